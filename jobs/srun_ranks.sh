#!/bin/bash
# srun_ranks.sh — start N ranks of a program inside a Slurm allocation, packed
# onto as few of its nodes as they fit (N ranks per node at most as the job has
# tasks per node), each with the job's --cpus-per-task, bound to its cores.
#
#   srun_ranks.sh N PROGRAM [ARGS...]
#
# The launcher of jobs/scaling_sweep.sbatch: scripts/scaling.sh --mpirun takes a
# command that is followed by the rank count. A plain `srun -n N` inside a
# several-node allocation would spread 2 ranks over 2 nodes; for a scaling sweep
# the smaller runs must stay on one node (intra-node communication first).
# Environment: SRUN_MPI (default pmix), SRUN_EXTRA (more srun options).
set -euo pipefail
if [ $# -lt 2 ] || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: srun_ranks.sh N PROGRAM [ARGS...]" >&2
  exit 2
fi
: "${SLURM_JOB_ID:?srun_ranks.sh runs inside a Slurm allocation (sbatch or salloc)}"
n=$1
shift
# SLURM_TASKS_PER_NODE is "4(x2)" or "4,2": the first node's count.
per_node=${SLURM_TASKS_PER_NODE:-$n}
per_node=${per_node%%[(,]*}
[[ $per_node =~ ^[1-9][0-9]*$ ]] || per_node=$n
nodes=$(( (n + per_node - 1) / per_node ))
# The job's own --ntasks-per-node (in the environment) would contradict a smaller step.
unset SLURM_NTASKS_PER_NODE
# shellcheck disable=SC2206  # a list of words
extra=(${SRUN_EXTRA:-})
exec srun --mpi="${SRUN_MPI:-pmix}" --kill-on-bad-exit=1 --nodes="$nodes" --ntasks="$n" \
          --cpus-per-task="${SLURM_CPUS_PER_TASK:-1}" --cpu-bind=cores "${extra[@]}" "$@"

# shellcheck shell=bash
# preemptible.sh — sourced by the batch scripts in jobs/: start the ranks, pass
# Slurm's warning signal on to them, and requeue the job when they stop early.
#
#   mnist_launch_prefix       fills the array MNIST_LAUNCH with the launcher line
#                             (srun or mpirun, see MPI_LAUNCHER) for this allocation
#   mnist_run_preemptible CMD runs CMD in the background and waits for it; returns
#                             its exit status, after requeueing the job if it was
#                             stopped by the warning signal
#
# The sequence on a cluster (all the scripts ask for --signal=B:USR1@120 and
# --requeue):
#   1. 120 s before the time limit slurmctld sends SIGUSR1 to the batch shell only
#      (B:); a plain `wait` is interruptible, so the trap below runs at once and
#      sends SIGUSR1 to the launcher (srun and Open MPI's mpirun both forward
#      SIGUSR1 to every rank);
#   2. mnist_ddp's ranks agree at the next step boundary to stop, write the
#      checkpoint (--checkpoint) and exit 3;
#   3. exit status 3 after SIGUSR1: `scontrol requeue $SLURM_JOB_ID` puts the job
#      back in the queue with the same job id (so the same RUN_DIR and checkpoint);
#      its output file is appended to (--open-mode=append) and the next start
#      continues with --resume auto (SLURM_RESTART_COUNT counts the restarts).
# A SIGTERM (scancel, or a preemption with PreemptMode=REQUEUE, where Slurm
# requeues the job itself) is forwarded too, and the ranks checkpoint, but the
# script does not requeue: a cancelled job stays cancelled. MAX_REQUEUES bounds
# the self-requeues (a run that can never finish must not loop forever).
#
# MNIST_FORWARD=group is for a CMD that is a driver script running many short
# launches (scripts/scaling.sh): CMD gets its own process group (setsid), a
# SIGUSR1 ends that whole group with SIGTERM, and the job is requeued whatever
# CMD's exit status; the batch script skips on its next start what was finished.
#
# A lost node: when the ranks fail (any status but 0, 2 or 3) and one of the
# job's nodes stops answering (a node crash, its network down: the ranks on the
# other nodes fail on the broken connection, or their watchdog after
# --comm-timeout), the script waits up to NODE_LOSS_WAIT seconds (default
# SlurmdTimeout + 30) for Slurm to mark that node DOWN or not responding and
# says which node was lost. Then either
#   - with MIN_NODES=M > 0, a job submitted with --no-kill (jobs/cpu_node.sbatch)
#     and at least M nodes left: slurmctld has dropped the lost node from the
#     running job, and the script starts the ranks again in that smaller
#     allocation, on the nodes that remain, with fewer ranks (the tasks those
#     nodes had), continuing from the last checkpoint (--resume auto); the
#     job keeps its id and is not requeued (tests/cluster: 6 ranks on 3 nodes,
#     then 4 on the 2 left); or
#   - it requeues the job, whose next start runs on nodes that remain and
#     continues from the last checkpoint, as many as the job had: Slurm does not
#     shrink a requeued job (its first start fixes its task count, also for
#     sbatch --nodes=MIN-MAX). Without --no-kill, slurmctld itself requeues a
#     --requeue job whose node it marks DOWN while the batch script runs
#     (state NODE_FAIL), also at its old size.
# Either way the job keeps its id, run directory and log.
#
# Variables read: MPI_LAUNCHER (srun | mpirun, default srun), SRUN_MPI (default
# pmix), SRUN_EXTRA / MPIRUN_EXTRA (more launcher options, split on blanks),
# MNIST_FORWARD (ranks | group, default ranks), MAX_REQUEUES (default 20),
# NODE_LOSS_WAIT (seconds, see above), MIN_NODES (default 0: after a lost node
# the job is requeued at its size), and Slurm's SLURM_* job variables.

# Launcher for one rank per task of the allocation.
#   srun:   srun --mpi=pmix. Debian's Open MPI 4.1 is built against the same
#           external PMIx (libpmix2, v4) as Debian's Slurm mpi_pmix plugin;
#           `srun --mpi=list` must show pmix (else try SRUN_MPI=pmi2, or mpirun).
#           Since Slurm 22.05 srun no longer inherits --cpus-per-task from
#           sbatch, so it is passed again here (each rank gets its cores).
#   mpirun: Open MPI's mpirun reads the allocation from Slurm (ras/slurm) and
#           starts its daemons with srun itself; for sites without PMIx in Slurm.
mnist_launch_prefix() {
  local cpus=${SLURM_CPUS_PER_TASK:-1}
  case "${MPI_LAUNCHER:-srun}" in
    srun)
      MNIST_LAUNCH=(srun --mpi="${SRUN_MPI:-pmix}" --kill-on-bad-exit=1
                    --ntasks="${SLURM_NTASKS:?not inside a Slurm job}" --cpus-per-task="$cpus" --cpu-bind=cores)
      # shellcheck disable=SC2206  # a list of words
      MNIST_LAUNCH+=(${SRUN_EXTRA:-})
      ;;
    mpirun)
      MNIST_LAUNCH=(mpirun -np "${SLURM_NTASKS:?not inside a Slurm job}" --map-by "slot:PE=$cpus" --bind-to core)
      [ "$(id -u)" -eq 0 ] && MNIST_LAUNCH+=(--allow-run-as-root)
      # shellcheck disable=SC2206  # a list of words
      MNIST_LAUNCH+=(${MPIRUN_EXTRA:-})
      ;;
    *)
      echo "preemptible.sh: MPI_LAUNCHER must be srun or mpirun, not '${MPI_LAUNCHER}'" >&2
      return 2
      ;;
  esac
}

MNIST_STOP_SIGNAL=""
MNIST_CHILD=""

mnist_forward_signal() {
  # Remember the first signal: it decides whether to requeue.
  [ -n "$MNIST_STOP_SIGNAL" ] || MNIST_STOP_SIGNAL=$1
  [ -n "$MNIST_CHILD" ] || return 0
  if [ "${MNIST_FORWARD:-ranks}" = group ]; then
    echo "batch script: SIG$1 received at $(date '+%F %T'), ending process group $MNIST_CHILD" >&2
    kill -TERM -- "-$MNIST_CHILD" 2>/dev/null
  else
    echo "batch script: SIG$1 received at $(date '+%F %T'), forwarding SIGUSR1 to the ranks" >&2
    kill -USR1 "$MNIST_CHILD" 2>/dev/null
  fi
  return 0
}

# Requeues this job after a stop by SIGUSR1 (not after SIGTERM, not beyond
# MAX_REQUEUES); returns 0 when it did.
mnist_requeue() {
  local restarts=${SLURM_RESTART_COUNT:-0}
  if [ "$MNIST_STOP_SIGNAL" = TERM ]; then
    echo "batch script: stopped by SIGTERM (cancelled or preempted): not requeueing"
  elif [ "$restarts" -ge "${MAX_REQUEUES:-20}" ]; then
    echo "batch script: already restarted $restarts times (MAX_REQUEUES=${MAX_REQUEUES:-20}): not requeueing" >&2
  else
    # Said first: once slurmctld has requeued the job it ends this batch step at once.
    echo "batch script: requeueing job $SLURM_JOB_ID (restart $((restarts + 1)))"
    if scontrol requeue "$SLURM_JOB_ID"; then
      sleep 60 || true
      return 0
    fi
    echo "batch script: scontrol requeue $SLURM_JOB_ID failed; submit again to continue" >&2
  fi
  return 1
}

# The job's nodes that Slurm reports down, failing or not responding (a list, or empty).
mnist_lost_nodes() {
  sinfo -h -N -n "$SLURM_JOB_NODELIST" -o '%N %t' 2>/dev/null |
    awk '$2 ~ /\*|down|fail/ {print $1}' | sort -u | paste -sd, -
}

# After a failed step: waits (NODE_LOSS_WAIT) for a lost node of this job; sets
# MNIST_LOST to it (a comma list) and returns 0 when there is one.
mnist_wait_lost_node() {
  local wait_s=${NODE_LOSS_WAIT:-} start=$SECONDS
  if [ -z "$wait_s" ]; then
    wait_s=$(scontrol show config 2>/dev/null | sed -n 's/^SlurmdTimeout *= *\([0-9]*\) sec.*/\1/p')
    wait_s=$(( ${wait_s:-300} + 30 ))
  fi
  MNIST_LOSS_DEADLINE=$((start + wait_s))
  while :; do
    MNIST_LOST=$(mnist_lost_nodes)
    [ -n "$MNIST_LOST" ] && break
    [ "$SECONDS" -lt "$MNIST_LOSS_DEADLINE" ] || return 1
    sleep 5
  done
  echo "batch script: lost node(s) $MNIST_LOST of this job (Slurm: down or not responding) after $((SECONDS - start)) s"
}

# The allocation without the nodes in MNIST_LOST: exports the SLURM_* variables
# srun and mpirun read (nodes, node list, tasks per node, tasks) for the nodes
# that remain, once slurmctld has dropped the lost ones from this job (--no-kill;
# until MNIST_LOSS_DEADLINE). Returns 1, changing nothing, when fewer than
# MIN_NODES remain or the job still holds a lost node.
mnist_shrink_to_nodes_left() {
  local nodes=() counts=() c n node i=0 left=() tasks=() total=0 now
  [ "${MIN_NODES:-0}" -gt 0 ] || return 1
  for c in ${SLURM_TASKS_PER_NODE//,/ }; do  # "2(x3),1": 2 on each of 3 nodes, then 1
    n=1
    if [[ $c =~ ^([0-9]+)\(x([0-9]+)\)$ ]]; then c=${BASH_REMATCH[1]} n=${BASH_REMATCH[2]}; fi
    for _ in $(seq "$n"); do counts+=("$c"); done
  done
  mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
  for node in "${nodes[@]}"; do
    if [[ ",$MNIST_LOST," != *",$node,"* ]]; then
      left+=("$node") tasks+=("${counts[i]:-1}") total=$((total + ${counts[i]:-1}))
    fi
    i=$((i + 1))
  done
  [ "${#left[@]}" -ge "$MIN_NODES" ] || return 1
  until now=$(scontrol -o show job "$SLURM_JOB_ID" 2>/dev/null | grep -o ' NodeList=[^ ]*' | cut -d= -f2) &&
        [ "$(scontrol show hostnames "$now" | sort | paste -sd,)" = "$(printf '%s\n' "${left[@]}" | sort | paste -sd,)" ]; do
    [ "$SECONDS" -lt "$MNIST_LOSS_DEADLINE" ] || return 1
    sleep 2
  done
  export SLURM_JOB_NODELIST=$now SLURM_NODELIST=$now SLURM_JOB_NUM_NODES=${#left[@]} SLURM_NNODES=${#left[@]}
  SLURM_TASKS_PER_NODE=$(IFS=,; echo "${tasks[*]}")
  export SLURM_TASKS_PER_NODE SLURM_NTASKS=$total SLURM_NPROCS=$total
}

mnist_run_preemptible() {
  MNIST_STOP_SIGNAL=""
  trap 'mnist_forward_signal USR1' USR1
  trap 'mnist_forward_signal TERM' TERM
  if [ "${MNIST_FORWARD:-ranks}" = group ]; then
    # A background child of a non-interactive shell is no group leader, so
    # setsid makes it one without forking: $! is the new group's id.
    setsid "$@" &
  else
    "$@" &
  fi
  MNIST_CHILD=$!
  local rc
  # wait returns early (status > 128) whenever a trapped signal arrives: wait
  # again until the launcher itself has ended.
  while :; do
    wait "$MNIST_CHILD"
    rc=$?
    kill -0 "$MNIST_CHILD" 2>/dev/null || break
  done
  trap - USR1 TERM
  MNIST_CHILD=""
  echo "batch script: $(basename "$1") ended with exit status $rc at $(date '+%F %T')"
  if [ "${MNIST_FORWARD:-ranks}" = group ]; then
    [ -n "$MNIST_STOP_SIGNAL" ] && mnist_requeue && return 0
  elif [ "$rc" -eq 3 ]; then
    # The ranks stopped on a signal and wrote their checkpoint.
    [ "$MNIST_STOP_SIGNAL" = TERM ] && echo "batch script: the checkpoint is kept for a later --resume auto"
    mnist_requeue && return 0
  elif [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ] && [ -z "$MNIST_STOP_SIGNAL" ] && [ "${SLURM_JOB_NUM_NODES:-1}" -gt 1 ] &&
       mnist_wait_lost_node; then
    mnist_relaunch_on_nodes_left "$@" && return "$rc"
    echo "batch script: requeueing to continue on the nodes that remain"
    mnist_requeue && return 0
  fi
  return "$rc"
}

# mnist_relaunch_on_nodes_left CMD: CMD (MNIST_LAUNCH's words, then the
# program's) started again with the launcher for the nodes that remain (see
# mnist_shrink_to_nodes_left); sets rc to its status and returns 0, or returns 1
# when it cannot (rc unchanged).
mnist_relaunch_on_nodes_left() {
  local n=${#MNIST_LAUNCH[@]}
  [ "${*:1:n}" = "${MNIST_LAUNCH[*]}" ] && mnist_shrink_to_nodes_left || return 1
  shift "$n"
  mnist_launch_prefix || return 1
  # The failed step keeps its CPUs until slurmctld hears from the lost node's
  # slurmstepd, which never comes: the new step shares them (srun --overlap).
  [ "${MNIST_LAUNCH[0]}" != srun ] || MNIST_LAUNCH+=(--overlap)
  echo "batch script: starting the ranks again on the nodes that remain: $SLURM_JOB_NODELIST," \
       "$SLURM_NTASKS ranks (MIN_NODES=$MIN_NODES)"
  mnist_run_preemptible "${MNIST_LAUNCH[@]}" "$@"
  rc=$?
}

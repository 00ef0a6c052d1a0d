#!/usr/bin/env bash
# test_slurm.sh — a real one-node Slurm cluster on this machine, and jobs/cpu_node.sbatch run in it.
#
#   test_slurm.sh MNIST_DDP_BIN DATA_DIR REPO_ROOT
#
# From Debian's packages (scripts/setup.sh installs munge, slurmctld, slurmd and
# slurm-client), without systemd: a MUNGE key and munged on a private socket, a
# slurm.conf for this host (its CPUs and memory from `slurmd -C`, free ports, all
# state, spool, pid and log files in a temporary directory), slurmctld and slurmd
# as background processes of this script, found by their pids and always stopped
# on exit (trap), after every job of this cluster has been cancelled.
#
# 1. The CPU job: sbatch jobs/cpu_node.sbatch with a small run (1 epoch, 3000
#    training and 1000 test images), 2 ranks started by srun --mpi=pmix; checks
#    JobState=COMPLETED and ExitCode=0:0 (scontrol), the completion record
#    (jobcomp/filetxt), the log (2 ranks, identical weights, the test accuracy)
#    and the model file.
# 2. Preemption: the same script with 3 epochs and MPI_LAUNCHER=mpirun; once the
#    first epoch is logged, `scancel --batch --signal=USR1` sends SIGUSR1 to the
#    batch shell only, as --signal=B:USR1@120 does near the time limit. The script
#    must forward it, the ranks checkpoint and exit 3, the script requeue the job,
#    and the second start resume from the checkpoint (--resume auto) and complete:
#    JobState=COMPLETED, ExitCode=0:0, Restarts=1, all three epochs logged once.
# 3. The scaling sweep: jobs/scaling_sweep.sbatch (scripts/scaling.sh, ranks
#    started by jobs/srun_ranks.sh), 4 steps per run on 1 and 2 ranks, stopped by
#    SIGUSR1 as soon as it has started, requeued, and complete on its second start:
#    both CSVs (weak, strong) with a row per rank count, every run's report.
# 4. jobs/gpu_node.sbatch and jobs/gpu_multinode.sbatch (--gpus-per-node=0, no GPU
#    visible): the ranks start and mnist_ddp refuses --device cuda; the job must
#    end FAILED with ExitCode=2:0 and not be requeued. (Training on GPUs under
#    Slurm is not tested: no GPU here.)
#
# cgroups: the cluster first runs with proctrack/cgroup and task/cgroup,affinity
# (and a cgroup.conf) and a probe step checks that the ranks sit in Slurm's
# cgroups on different cores; where slurmd cannot manage cgroups (a container
# with a read-only /sys/fs/cgroup, cgroup v2 without systemd or a writable
# hierarchy) it says why and falls back to proctrack/linuxproc + task/none
# (MNIST_SLURM_CGROUPS=yes|no forces either). Not run: an accounting database
# (slurmdbd + MariaDB), so no sacct: job states come from scontrol and the
# jobcomp/filetxt completion log.
#
# Exit 77 (ctest: skipped) with the reason when it cannot run: not root and no
# passwordless sudo (slurmd must run as root), or the Slurm/MUNGE programs are
# missing (scripts/setup.sh installs them).
set -uo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 MNIST_DDP_BIN DATA_DIR REPO_ROOT" >&2
  exit 2
fi
bin=$(readlink -f "$1")
data=$(readlink -f "$2")
root=$(readlink -f "$3")

skip() { echo "SKIP: $*"; exit 77; }

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "not root: running again under sudo"
    exec sudo -n --preserve-env=PATH "$0" "$bin" "$data" "$root"
  fi
  skip "slurmd must run as root (to start jobs as their user): run as root or with passwordless sudo"
fi
# munged, slurmctld and slurmd live in /usr/sbin, which a CI runner's PATH may lack.
export PATH=$PATH:/usr/sbin:/sbin
for prog in munged munge unmunge slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
  command -v "$prog" >/dev/null 2>&1 || skip "$prog not found: install munge slurmctld slurmd slurm-client (scripts/setup.sh does)"
done
python=$(command -v python3 || true)
[ -n "$python" ] || skip "python3 not found (used to pick free ports)"
[ -x "$bin" ] || { echo "FAIL: $bin is not an executable"; exit 1; }
[ -d "$data" ] || { echo "FAIL: no data directory $data"; exit 1; }

# ---- the cluster's directory and teardown -------------------------------------------
# World-traversable (munged refuses a socket in a directory others cannot enter);
# the key directory inside it is private.
tmp=$(mktemp -d /tmp/mnist_slurm.XXXXXX)
chmod 755 "$tmp"
mkdir -p "$tmp/state" "$tmp/spool" "$tmp/log" "$tmp/jobs"
export SLURM_CONF=$tmp/slurm.conf

munged_pid="" slurmctld_pid="" slurmd_pid=""
failed=0
# shellcheck source=slurm_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/slurm_lib.sh"

teardown() {
  trap - EXIT INT TERM
  declare -F stop_slurm >/dev/null && stop_slurm
  stop_pid "$munged_pid" munged
  if [ "$failed" -ne 0 ] || [ -n "${KEEP_SLURM_TMP:-}" ]; then
    dump_logs "$tmp"/log/slurmctld.log "$tmp"/log/slurmd.log "$tmp"/log/munged.log "$tmp"/log/jobcomp.txt "$tmp"/jobs/*.out
    echo "cluster files kept in $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap teardown EXIT
trap 'failed=1; exit 1' INT TERM

slurm_deadline "${MNIST_SLURM_TEST_SECONDS:-840}"

# ---- MUNGE --------------------------------------------------------------------------
start_munged

# ---- slurm.conf ---------------------------------------------------------------------
# This host as slurmd sees it: "NodeName=h CPUs=.. Boards=.. SocketsPerBoard=.. ...".
node_line=$(slurmd -C 2>/dev/null | grep '^NodeName=') || fail "slurmd -C printed no node line"
node=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$node_line")
cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$node_line")
[ -n "$node" ] && [ -n "$cpus" ] || fail "cannot parse '$node_line'"
read -r ctld_port slurmd_port < <("$python" "$(dirname "${BASH_SOURCE[0]}")/free_ports.py")
[ -n "$slurmd_port" ] || fail "no free ports found"

# Two process-tracking modes. cgroup: proctrack/cgroup + task/cgroup,affinity
# (jobs confined to their cores and memory, ranks bound to cores), as on a real
# cluster; plain: proctrack/linuxproc + task/none (nothing confined or bound), for
# machines where slurmd cannot manage cgroups (a container with a read-only
# /sys/fs/cgroup; cgroup v2 where neither systemd nor a writable hierarchy is
# there). MNIST_SLURM_CGROUPS=auto (default) tries cgroup and falls back to plain
# with the reason from slurmd's log; yes or no forces one.
write_slurm_conf() {  # write_slurm_conf cgroup|plain
  local proctrack=proctrack/linuxproc task=task/none gather=jobacct_gather/none
  if [ "$1" = cgroup ]; then
    proctrack=proctrack/cgroup task=task/cgroup,task/affinity gather=jobacct_gather/cgroup
  fi
  cat >"$SLURM_CONF" <<EOF
# Written by tests/slurm/test_slurm.sh: a one-node cluster on this host ($1 mode).
$(slurm_conf_common "$proctrack" "$task" "$gather")
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmdSpoolDir=$tmp/spool
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmdLogFile=$tmp/log/slurmd.log
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=60 State=UP
EOF
  # Read only by the cgroup plugins. IgnoreSystemdOnFailure: with cgroup v2 and
  # no systemd (no dbus), build the hierarchy directly instead of asking systemd.
  cat >"$tmp/cgroup.conf" <<EOF
CgroupPlugin=autodetect
IgnoreSystemdOnFailure=yes
ConstrainCores=yes
ConstrainRAMSpace=yes
EOF
}

# cgroup directories slurmd creates (slurm_<node> under each v1 controller, or
# system.slice/slurmstepd.scope in v2) and leaves behind: the ones not there
# before the test are removed (rmdir only: never one still in use).
slurm_cgroup_dirs() {
  find /sys/fs/cgroup -maxdepth 3 -type d \( -name "slurm_$node" -o -name 'slurmstepd.scope' \) 2>/dev/null | sort
}
cgroups_before=$(slurm_cgroup_dirs)

stop_slurm() {
  if [ -n "$slurmctld_pid" ] && kill -0 "$slurmctld_pid" 2>/dev/null; then
    # A slurmstepd outlives slurmd: the jobs go first.
    cancel_all_jobs
  fi
  stop_pid "$slurmd_pid" slurmd
  stop_pid "$slurmctld_pid" slurmctld
  slurmd_pid="" slurmctld_pid=""
  local d
  for d in $(comm -13 <(echo "$cgroups_before") <(slurm_cgroup_dirs)); do
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
}

start_slurm() {  # start_slurm MODE: returns 1 (with $why) if the node does not become idle
  write_slurm_conf "$1"
  start_slurmctld || return 1
  slurmd -D >>"$tmp/log/slurmd.out" 2>&1 &
  slurmd_pid=$!
  wait_node_idle "$node" "$slurmd_pid"
}

# Two ranks of half the cores each (one rank, all cores, on a one-core machine).
ranks=2
[ "$cpus" -lt 2 ] && ranks=1
threads=$((cpus / ranks))

# A job step as the job scripts launch theirs: the ranks' cgroups and CPU sets.
probe_step() {  # probe_step MODE: returns 1 (with $why) on failure
  local out
  out=$(timeout 120 srun --mpi=pmix --ntasks="$ranks" --cpus-per-task="$threads" --cpu-bind=cores \
        bash -c 'echo "rank $SLURM_PROCID cpus $(sed -n "s/^Cpus_allowed_list:[[:space:]]*//p" /proc/self/status) cgroup $(grep -c slurm /proc/self/cgroup)"' 2>&1)
  [ $? -eq 0 ] || { why="srun probe step failed: $(echo "$out" | tail -n 3) $(grep -i error "$tmp/log/slurmd.log" | tail -n 3)"; return 1; }
  echo "$out" | sed 's/^/  probe: /'
  [ "$(echo "$out" | grep -c '^rank ')" -eq "$ranks" ] || { why="srun probe step printed no line per rank"; return 1; }
  if [ "$1" = cgroup ]; then
    echo "$out" | grep '^rank ' | grep -q ' cgroup 0$' && { why="a rank is not in a Slurm cgroup"; return 1; }
    if [ "$ranks" -gt 1 ] && [ "$(echo "$out" | grep '^rank ' | awk '{print $4}' | sort -u | wc -l)" -ne "$ranks" ]; then
      why="the ranks were not bound to different cores"
      return 1
    fi
  fi
  return 0
}

mode_wanted=${MNIST_SLURM_CGROUPS:-auto}
mode=cgroup
[ "$mode_wanted" = no ] && mode=plain
why=""
if start_slurm "$mode" && probe_step "$mode"; then
  :
elif [ "$mode" = cgroup ] && [ "$mode_wanted" = auto ]; then
  echo "note: Slurm with cgroups does not work on this machine ($why);"
  echo "note: running without them (proctrack/linuxproc, task/none: jobs not confined, ranks not bound)"
  stop_slurm
  mode=plain
  start_slurm "$mode" && probe_step "$mode" || fail "$why"
else
  fail "$why"
fi
ok "slurmctld (pid $slurmctld_pid), slurmd (pid $slurmd_pid): node $node idle, $mode mode, ports $ctld_port, $slurmd_port"
srun --mpi=list 2>&1 | grep -qw pmix || fail "srun --mpi=list does not offer pmix: $(srun --mpi=list 2>&1 | tr '\n' ' ')"

# ---- 1. the CPU job -----------------------------------------------------------------
id=$(submit basic cpu_node.sbatch EPOCHS=1 TRAIN_LIMIT=3000 TEST_LIMIT=1000) || fail "sbatch refused the job"
ok "submitted jobs/cpu_node.sbatch as job $id ($ranks ranks x $threads threads)"
wait_job_end "$id" 600
log=$tmp/jobs/basic.out
state=$(job_field "$id" JobState)
exit_code=$(job_field "$id" ExitCode)
[ "$state" = COMPLETED ] && [ "$exit_code" = 0:0 ] || fail "job $id: JobState=$state ExitCode=$exit_code"
ok "job $id: JobState=COMPLETED ExitCode=0:0"
grep -q "JobId=$id .*JobState=COMPLETED" "$tmp/log/jobcomp.txt" || fail "no COMPLETED record of job $id in jobcomp.txt"
grep -q "^mnist_ddp: $ranks rank" "$log" || fail "the log does not show $ranks ranks"
if [ "$ranks" -gt 1 ]; then
  grep -q "bitwise identical on all $ranks ranks" "$log" || fail "the ranks did not end with identical weights"
fi
grep -q "^Epoch 1/1 " "$log" || fail "no epoch line in the log"
acc=$(accuracy_of "$log")
[ -n "$acc" ] || fail "no test accuracy line in the log"
"$python" -c "import sys; sys.exit(0 if float('$acc') >= 0.5 else 1)" ||
  fail "test accuracy $acc after one epoch on 3000 images (expected >= 0.5)"
check_model "$tmp/jobs/basic/mnist_cnn_model.h5"
[ -s "$tmp/jobs/basic/report.json" ] || fail "no run report"
ok "log: $ranks ranks, test accuracy $acc; model file and report written"

# ---- 2. preemption: SIGUSR1 to the batch shell, checkpoint, requeue, resume -------------
id=$(submit preempt cpu_node.sbatch EPOCHS=3 TRAIN_LIMIT=2000 TEST_LIMIT=500 MPI_LAUNCHER=mpirun \
            "EXTRA_ARGS=--no-early-stopping --precise-bn 512") || fail "sbatch refused the job"
log=$tmp/jobs/preempt.out
ok "submitted job $id (3 epochs, mpirun) to be preempted"
wait_for_log "$id" "^Epoch 1/3 " "$log" 600
scancel --batch --signal=USR1 "$id" || fail "scancel --batch --signal=USR1 $id failed"
ok "epoch 1 logged; SIGUSR1 sent to the batch shell of job $id"
wait_job_end "$id" 900
state=$(job_field "$id" JobState)
exit_code=$(job_field "$id" ExitCode)
restarts=$(job_field "$id" Restarts)
[ "$state" = COMPLETED ] && [ "$exit_code" = 0:0 ] ||
  fail "job $id: JobState=$state ExitCode=$exit_code Restarts=$restarts"
[ "$restarts" = 1 ] || fail "job $id completed with Restarts=$restarts, expected 1 (one requeue)"
grep -q "batch script: SIGUSR1 received" "$log" || fail "the batch script did not see SIGUSR1"
grep -q "^batch script: mpirun ended with exit status 3" "$log" || fail "the ranks did not exit 3 (preempted) after SIGUSR1"
grep -q "^batch script: requeueing job $id (restart 1)" "$log" || fail "the batch script did not requeue the job"
grep -q "^job $id (start 2)" "$log" || fail "no second start of job $id in the log"
grep -q "^Preempted by SIGUSR1 at epoch" "$log" || fail "mnist_ddp did not report the preemption by SIGUSR1"
grep -q "^Resumed from $tmp/jobs/preempt/checkpoint.h5" "$log" || fail "the second start did not resume from the checkpoint"
for e in 1 2 3; do
  n=$(grep -c "^Epoch $e/3 " "$log")
  [ "$n" -eq 1 ] || fail "epoch $e logged $n times (expected once: resumed, not restarted)"
done
acc=$(accuracy_of "$log")
[ -n "$acc" ] || fail "no test accuracy line after the resumed run"
check_model "$tmp/jobs/preempt/mnist_cnn_model.h5"
ok "job $id: preempted after epoch 1, requeued, resumed, COMPLETED 0:0 with Restarts=1, test accuracy $acc"

# ---- 3. the scaling sweep job, stopped once and requeued -------------------------------
sweep_ranks="1 $ranks"
id=$(submit sweep scaling_sweep.sbatch --cpus-per-task=1 STEPS=4 "RANKS=$sweep_ranks") || fail "sbatch refused the job"
log=$tmp/jobs/sweep.out
ok "submitted jobs/scaling_sweep.sbatch as job $id (ranks $sweep_ranks, 4 steps each)"
# The sweep has started its first mode (the CSV header is written before the
# first run starts): stop it there.
wait_for_log "$id" "^mode,ranks," "$tmp/jobs/sweep/scaling_weak.csv" 300
scancel --batch --signal=USR1 "$id" || fail "scancel --batch --signal=USR1 $id failed"
ok "sweep started; SIGUSR1 sent to the batch shell of job $id"
wait_job_end "$id" 600
state=$(job_field "$id" JobState)
exit_code=$(job_field "$id" ExitCode)
restarts=$(job_field "$id" Restarts)
[ "$state" = COMPLETED ] && [ "$exit_code" = 0:0 ] ||
  fail "job $id: JobState=$state ExitCode=$exit_code Restarts=$restarts"
[ "$restarts" = 1 ] || fail "job $id completed with Restarts=$restarts, expected 1 (one requeue)"
grep -q "ending process group" "$log" || fail "the batch script did not stop the sweep's process group"
grep -q "^batch script: requeueing job $id (restart 1)" "$log" || fail "the batch script did not requeue the sweep"
n_ranks=$(printf '%s\n' $sweep_ranks | sort -u | wc -l)
for mode in weak strong; do
  csv=$tmp/jobs/sweep/scaling_$mode.csv
  [ -f "$csv.done" ] || fail "the $mode sweep did not finish ($csv.done missing)"
  rows=$(grep -c "^$mode," "$csv")
  [ "$rows" -eq "$n_ranks" ] || fail "$csv has $rows rows, expected $n_ranks: $(cat "$csv")"
  for p in $sweep_ranks; do
    "$python" "$(dirname "${BASH_SOURCE[0]}")/check_sweep_report.py" "$tmp/jobs/sweep/reports_$mode/${mode}_np$p.json" "$p" ||
      fail "$mode, $p ranks: bad report"
  done
done
ok "job $id: sweep stopped, requeued, rerun, COMPLETED 0:0 with Restarts=1; weak and strong CSVs with $n_ranks rows each"

# ---- 4. the GPU scripts on a node without GPUs: they run up to the device check ---------
# CUDA_VISIBLE_DEVICES is empty, so even a machine with GPUs shows none: the
# scripts must start their ranks with srun, mnist_ddp must refuse --device cuda
# (exit 2), and the job must fail with that code and not be requeued.
for script in gpu_node gpu_multinode; do
  id=$(submit "$script" "$script.sbatch" --gpus-per-node=0 --nodes=1 "CUDA_VISIBLE_DEVICES=") ||
    fail "sbatch refused $script.sbatch"
  wait_job_end "$id" 300
  log=$tmp/jobs/$script.out
  state=$(job_field "$id" JobState)
  exit_code=$(job_field "$id" ExitCode)
  restarts=$(job_field "$id" Restarts)
  [ "$state" = FAILED ] && [ "$exit_code" = 2:0 ] && [ "$restarts" = 0 ] ||
    fail "$script job $id: JobState=$state ExitCode=$exit_code Restarts=$restarts (expected FAILED 2:0, 0)"
  grep -q "^mnist_ddp: error: .*--device cuda" "$log" || fail "$script job $id: no --device cuda error in the log"
  grep -q "^batch script: srun ended with exit status 2" "$log" || fail "$script job $id: srun did not end with 2"
  ok "$script.sbatch (job $id): $ranks ranks started by srun, --device cuda refused without a GPU, FAILED 2:0, not requeued"
done

echo "PASS"

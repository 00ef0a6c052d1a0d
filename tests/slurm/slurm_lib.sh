# shellcheck shell=bash
# slurm_lib.sh — the parts of a test Slurm cluster that tests/slurm/test_slurm.sh
# (one node) and tests/cluster/test_cluster.sh (nodes in network namespaces)
# share: MUNGE, the common lines of slurm.conf, starting and stopping daemons by
# pid, and submitting and watching jobs. Sourced; the caller sets beforehand:
#   tmp      the cluster's temporary directory (run/, munge/, log/, jobs/ ...)
#   bin data root python   mnist_ddp, the MNIST directory, the repository, python3
#   ranks threads          tasks per node and CPUs per task of submitted jobs
#   failed   0 (set to 1 by fail)
# and defines the teardown that calls stop_pid for what it started.

# ---- reporting -----------------------------------------------------------------------
fail() { echo "FAIL: $*"; failed=1; exit 1; }
ok() { echo "ok: $*"; }
# Fail (and tear down) before ctest's TIMEOUT would kill the test and leave its
# daemons running: slurm_deadline SECONDS sets the limit.
slurm_deadline() { deadline=$((SECONDS + $1)); deadline_seconds=$1; }
check_deadline() {
  [ "$SECONDS" -lt "${deadline:-999999}" ] || fail "out of time (${deadline_seconds:-?} s) while waiting for $1"
}

# ---- processes ---------------------------------------------------------------------
stop_pid() {  # stop_pid PID NAME: SIGTERM, then SIGKILL after 15 s
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 30); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.5
  done
  echo "teardown: $2 (pid $pid) ignored SIGTERM, killing it"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

dump_logs() {  # dump_logs FILE...: the last lines of each that exists
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    echo "---- last lines of $f"
    tail -n 40 "$f"
  done
}

# ---- MUNGE ---------------------------------------------------------------------------
# start_munged [PREFIX...]: a fresh key in $tmp/munge, munged on $tmp/run/munge.socket
# (PREFIX: a command to run it under, e.g. one entering a node's namespace).
# Sets munged_pid and munge_socket. A socket in the file system: every network
# namespace on the machine reaches it, as one key on every node would.
start_munged() {
  mkdir -p "$tmp/munge" "$tmp/run" "$tmp/log"
  chmod 700 "$tmp/munge"
  chmod 755 "$tmp/run"
  if command -v mungekey >/dev/null 2>&1; then
    mungekey --create --keyfile="$tmp/munge/munge.key" || fail "mungekey could not create a key"
  else
    dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
  fi
  chmod 400 "$tmp/munge/munge.key"
  munge_socket=$tmp/run/munge.socket
  "$@" munged --foreground --socket="$munge_socket" --key-file="$tmp/munge/munge.key" \
         --log-file="$tmp/log/munged.log" --pid-file="$tmp/run/munged.pid" --seed-file="$tmp/munge/munged.seed" \
         >"$tmp/log/munged.out" 2>&1 &
  munged_pid=$!
  for _ in $(seq 40); do [ -S "$munge_socket" ] && break; kill -0 "$munged_pid" 2>/dev/null || break; sleep 0.25; done
  munge --socket="$munge_socket" -n | unmunge --socket="$munge_socket" >/dev/null 2>&1 ||
    { cat "$tmp/log/munged.out"; fail "munged did not start (credential round trip failed)"; }
  ok "munged (pid $munged_pid) on $munge_socket"
}

# slurm_conf_common PROCTRACK TASK GATHER: the lines of slurm.conf both clusters
# share (authentication, files under $tmp, plugins, no accounting database);
# the caller adds the hosts, ports, nodes and partition.
slurm_conf_common() {
  cat <<EOC
ClusterName=mnisttest
SlurmUser=root
SlurmdUser=root
# MUNGE on this test's own socket; cred_expire (default 120 s) is also how long a
# requeued job waits before it may start again.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket,cred_expire=10
StateSaveLocation=$tmp/state
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=$1
TaskPlugin=$2
JobAcctGatherType=$3
# No slurmdbd: completed jobs are recorded in a text file.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$tmp/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=10
MinJobAge=600
EOC
}

# start_slurmctld: slurmctld -D in the background ($SLURM_CONF written), until
# `scontrol ping` says UP. Sets slurmctld_pid; returns 1 with $why if it does not come up.
start_slurmctld() {
  rm -rf "$tmp/state" "$tmp/spool"
  mkdir -p "$tmp/state" "$tmp/spool"
  "$@" slurmctld -D -i >>"$tmp/log/slurmctld.out" 2>&1 &
  slurmctld_pid=$!
  for _ in $(seq 60); do
    scontrol ping 2>/dev/null | grep -q 'is UP' && break
    kill -0 "$slurmctld_pid" 2>/dev/null || break
    sleep 0.5
  done
  scontrol ping 2>/dev/null | grep -q 'is UP' || { why="slurmctld did not come up: $(tail -n 5 "$tmp/log/slurmctld.out")"; return 1; }
}

wait_node_idle() {  # wait_node_idle NODE PID: until sinfo shows NODE idle (60 s); 1 with $why if not
  local state=""
  for _ in $(seq 120); do
    state=$(sinfo -h -n "$1" -o %T 2>/dev/null)
    [ "$state" = idle ] && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.5
  done
  why="node $1 is '${state:-unknown}', not idle: $(grep -ih error "$tmp"/log/slurmd*.out 2>/dev/null | tail -n 5)"
  return 1
}

cancel_all_jobs() {  # every job of this cluster, waiting (at most 60 s) until none is left
  for _ in $(seq 60); do
    scancel --quiet --full --signal=KILL --user=root 2>/dev/null
    [ -z "$(squeue -h -o %i 2>/dev/null)" ] && return 0
    sleep 1
  done
}

# ---- jobs ------------------------------------------------------------------------------
job_field() {  # job_field ID FIELD: one field of `scontrol show job`
  scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

wait_job_end() {  # wait_job_end ID SECONDS: until the job is in a final state
  local id=$1 limit=$2 start=$SECONDS s
  while [ $((SECONDS - start)) -lt "$limit" ]; do
    check_deadline "job $id to end"
    s=$(job_field "$id" JobState)
    case "$s" in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|PREEMPTED|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE) return 0 ;;
    esac
    sleep 2
  done
  fail "job $id still '$(job_field "$id" JobState)' after $limit s"
}

submit() {  # submit NAME SCRIPT [SBATCH OPTION...] [VAR=VALUE...]: prints the job id
  local name=$1 script=$2
  shift 2
  local export_list="ALL,MNIST_DDP_ROOT=$root,MNIST_DDP_BIN=$bin,DATA_DIR=$data,RUN_DIR=$tmp/jobs/$name"
  local opts=(--job-name="$name" --partition=cpu --ntasks-per-node="$ranks" --cpus-per-task="$threads"
              --time=00:30:00 --output="$tmp/jobs/$name.out")
  local a
  for a in "$@"; do
    case "$a" in
      --*) opts+=("$a") ;;
      *) export_list+=",$a" ;;
    esac
  done
  (cd "$tmp/jobs" && sbatch --parsable "${opts[@]}" --export="$export_list" "$root/jobs/$script")
}

wait_for_log() {  # wait_for_log ID PATTERN FILE SECONDS: until FILE has a line matching PATTERN
  local id=$1 pattern=$2 file=$3 limit=$4 start=$SECONDS
  until grep -q "$pattern" "$file" 2>/dev/null; do
    [ $((SECONDS - start)) -lt "$limit" ] || fail "job $id: no '$pattern' in $file after $limit s"
    check_deadline "'$pattern' in $file"
    case "$(job_field "$id" JobState)" in
      RUNNING|PENDING|CONFIGURING|COMPLETING|REQUEUED) ;;
      *) fail "job $id ended ($(job_field "$id" JobState)) before '$pattern' appeared in $file" ;;
    esac
    sleep 0.5
  done
}

accuracy_of() {  # the test accuracy in a log, e.g. 0.8810
  sed -n 's/^Test loss: .* - test accuracy: \([0-9.]*\) .*/\1/p' "$1" | tail -n 1
}

check_model() {  # check_model FILE: exists and starts with the HDF5 signature
  [ -s "$1" ] || fail "no model file $1"
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 894844460d0a1a0a ] || fail "$1 is not an HDF5 file"
}

# check_job_end ID STATE EXIT_CODE: the job ended in STATE with EXIT_CODE (scontrol)
check_job_end() {
  local state exit_code
  state=$(job_field "$1" JobState)
  exit_code=$(job_field "$1" ExitCode)
  [ "$state" = "$2" ] && [ "$exit_code" = "$3" ] ||
    fail "job $1: JobState=$state ExitCode=$exit_code Restarts=$(job_field "$1" Restarts) (expected $2 $3)"
}

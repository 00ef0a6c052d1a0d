#!/usr/bin/env bash
# checks.sh — the inside of tests/cluster/test_cluster.sh, run on node1 of its
# cluster (MNIST_CLUSTER_DIR set): starts munged, slurmctld (here) and a slurmd
# on every node, runs the checks, and stops the daemons on exit (trap). The
# outer script removes the namespaces and checks that nothing is left.
#
#   checks.sh MNIST_DDP_BIN DATA_DIR REPO_ROOT
#
# The checks (each names its figures in an "ok:" line):
#   1. sbatch --nodes=2 --ntasks-per-node=2 jobs/cpu_node.sbatch, ranks by
#      srun --mpi=pmix: four ranks on node1 and node2, the report's node and
#      node-local rank of each rank, identical weights, the test accuracy, and
#      Open MPI's transports (btl_base_verbose): tcp between the nodes, vader
#      (shared memory) within each.
#   2. the same training started by mpirun --hostfile across node2 and node3
#      (plm_rsh_agent: tests/cluster/rsh_agent.sh instead of ssh): the same
#      report, the same accuracy as check 1.
#   3. errors across ranks: a bad data file that every rank reads alike (srun,
#      4 ranks on 2 nodes): printed once, exit 2, no MPI_ABORT; a data directory
#      on one node's local disk only (mpirun): the other node's ranks say so and
#      the job is aborted.
#   4. a node lost mid-training (all its processes killed; its link down): a
#      job submitted with --nodes=2-3 (MIN_NODES=2) starts on all three nodes
#      (6 ranks), the step fails within a bounded time, the ranks start again
#      on the nodes that remain (node1, node3: 4 ranks; the same job, shrunk
#      by Slurm), resume from the 6-rank checkpoint, use every sample of each
#      epoch once, and complete.
#   5. the scaling sweep (jobs/scaling_sweep.sbatch) in a 2-node allocation:
#      its CSV has the node count of each run (2 ranks: 1 node; 4 ranks: 2).
set -uo pipefail
bin=$1 data=$2 root=$3
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
tmp=${MNIST_CLUSTER_DIR:?}
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
nodes=$(grep -c ' node[0-9]*$' "$tmp/hosts")
# Two ranks per node, one thread each (submit in slurm_lib.sh reads them).
# shellcheck disable=SC2034
ranks=2 threads=1
failed=0
# shellcheck source=../slurm/slurm_lib.sh
source "$root/tests/slurm/slurm_lib.sh"
slurm_deadline "${MNIST_CLUSTER_TEST_SECONDS:-540}"

mkdir -p "$tmp/state" "$tmp/spool" "$tmp/log" "$tmp/jobs"
export SLURM_CONF=$tmp/slurm.conf
# Open MPI between the nodes: ob1 with TCP on the cluster's interface only,
# shared memory (vader) within a node; the verbose BTL selection is in the logs.
export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=cl0 OMPI_MCA_oob_tcp_if_include=cl0
export OMPI_MCA_btl_base_verbose=100
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

node_exec() { "$here/node_exec.sh" "$@"; }

munged_pid="" slurmctld_pid=""
declare -A slurmd_pid=()
teardown() {
  trap - EXIT INT TERM
  local n
  [ -n "$slurmctld_pid" ] && kill -0 "$slurmctld_pid" 2>/dev/null && cancel_all_jobs
  for n in "${!slurmd_pid[@]}"; do stop_pid "${slurmd_pid[$n]}" "slurmd on $n"; done
  stop_pid "$slurmctld_pid" slurmctld
  stop_pid "$munged_pid" munged
  if [ "$failed" -ne 0 ]; then
    dump_logs "$tmp"/log/slurmctld.log "$tmp"/log/slurmd.node*.log "$tmp"/log/jobcomp.txt "$tmp"/jobs/*.out
  fi
  exit "$failed"
}
trap teardown EXIT
trap 'failed=1; exit 1' INT TERM

# ---- MUNGE, slurm.conf, the daemons ----------------------------------------------------
start_munged
{
  echo "# Written by tests/cluster/checks.sh: $nodes nodes in network namespaces."
  slurm_conf_common proctrack/linuxproc task/none jobacct_gather/none
  cat <<EOC
SlurmctldHost=node1(10.77.0.1)
SlurmctldPort=6817
SlurmdPort=6818
# One slurmd per node on one machine: %n is the node's name.
SlurmdSpoolDir=$tmp/spool/%n
SlurmdPidFile=$tmp/run/slurmd.%n.pid
SlurmdLogFile=$tmp/log/slurmd.%n.log
# A node that stops answering is DOWN after SlurmdTimeout; its jobs are requeued.
SlurmdTimeout=20
SlurmctldTimeout=20
MessageTimeout=5
JobRequeue=1
EOC
  for i in $(seq "$nodes"); do
    echo "NodeName=node$i NodeAddr=10.77.0.$i CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN"
  done
  echo "PartitionName=cpu Nodes=node[1-$nodes] Default=YES MaxTime=60 State=UP"
} >"$SLURM_CONF"
start_slurmctld || fail "$why"
for i in $(seq "$nodes"); do
  mkdir -p "$tmp/spool/node$i"
  # The script itself, not a function: $! is then slurmd's pid (node_exec.sh execs).
  "$here/node_exec.sh" "node$i" slurmd -D >>"$tmp/log/slurmd.node$i.out" 2>&1 &
  slurmd_pid[node$i]=$!
done
for i in $(seq "$nodes"); do
  wait_node_idle "node$i" "${slurmd_pid[node$i]}" || fail "$why"
done
ok "slurmctld on node1 (pid $slurmctld_pid), slurmd on node1..node$nodes (pids ${slurmd_pid[*]}): all idle"
srun --mpi=list 2>&1 | grep -qw pmix || fail "srun --mpi=list does not offer pmix: $(srun --mpi=list 2>&1 | tr '\n' ' ')"

# ---- helpers ---------------------------------------------------------------------------
# A short training run, the same in every check: 1 epoch on 1600 images, 4 ranks.
train_args=(--epochs 1 --train-limit 1600 --test-limit 500 --batch-size 32 --precise-bn 256 --no-early-stopping)
train_env=(EPOCHS=1 TRAIN_LIMIT=1600 TEST_LIMIT=500 BATCH_SIZE=32 "EXTRA_ARGS=--precise-bn 256 --no-early-stopping")

# check_ranks REPORT NODE...: the report's node and node-local rank of each rank
# (NODE per rank, in rank order), identical weights.
check_ranks() {
  local report=$1
  shift
  "$python" - "$report" "$@" <<'EOP' || fail "report $report: wrong ranks"
import json, sys
r = json.load(open(sys.argv[1]))
want = sys.argv[2:]
nodes = r["ranks"]["node"]
local = r["ranks"]["local_rank"]
assert r["world_size"] == len(want), f"world_size {r['world_size']}, expected {len(want)}"
assert nodes == want, f"nodes {nodes}, expected {want}"
exp = [want[:i].count(n) for i, n in enumerate(want)]
assert local == exp, f"node-local ranks {local}, expected {exp}"
assert r["weights_identical_on_all_ranks"] is True
EOP
}

# check_btls LOG NODE...: Open MPI's BML lines ("[host:pid] mca: bml: Using <btl>
# btl for send to [[job,vpid],rank] on node <host>", one per peer a rank talks
# to): vader (shared memory) to a peer on the same node, tcp to one on another,
# over the cluster's addresses only; each of the NODEs has a vader and a tcp line.
check_btls() {
  "$python" - "$@" <<'EOP'
import re, sys
log, nodes = sys.argv[1], sys.argv[2:]
seen, bad = set(), []
for line in open(log, errors="replace"):
    m = re.search(r"^\[([^:\]]+):\d+\] mca: bml: Using (\w+) btl for send to \[\[\d+,\d+\],(\d+)\] on node (\S+)", line)
    if m:
        src, btl, dst = m.group(1), m.group(2), m.group(4)
        if btl == "self":
            continue
        want = "vader" if src == dst else "tcp"
        if btl != want:
            bad.append(f"{src} -> rank {m.group(3)} on {dst}: {btl} (expected {want})")
        seen.add((src, btl))
    m = re.search(r"btl: ?tcp: .*connect\(\) to (\d+\.\d+\.\d+\.\d+)", line)
    if m and not m.group(1).startswith("10.77.0."):
        bad.append(f"a TCP connection to {m.group(1)}, outside the cluster's network")
for n in nodes:
    for btl in ("vader", "tcp"):
        if (n, btl) not in seen:
            bad.append(f"no {btl} line from {n}")
if bad:
    sys.exit("transports: " + "; ".join(bad[:6]))
print("transports: vader within each node, tcp (10.77.0.x) between the nodes")
EOP
}

acc_close() {  # acc_close A B: the two accuracies within 0.02
  "$python" -c "import sys; sys.exit(0 if abs(float('$1') - float('$2')) <= 0.02 else 1)"
}

# each_sample_once_per_start DIR N B W1 W2: the sample trace (MNIST_DDP_TRACE_SAMPLES=DIR)
# of a 2-epoch job on N training images (TRAIN_LIMIT less the validation split),
# batch B, that ran epoch 1 on W1 ranks, lost a node in epoch 2 and ran epoch 2
# again on W2 < W1 ranks. Each rank file holds, in order: the first start's
# epoch 1 (S1 = ceil(ceil(N/W1)/B) lines) and part of its epoch 2, then (ranks
# < W2) the second start's epoch 2 (its last S2 lines). Each epoch, as the run
# kept it, uses every sample once; the second start did not redo epoch 1.
each_sample_once_per_start() {
  "$python" - "$@" <<'EOP'
import collections, glob, os, sys
d, n, b, w1, w2 = sys.argv[1], *map(int, sys.argv[2:])
steps = lambda w: -(-(-(-n // w)) // b)
files = sorted(glob.glob(d + "/samples.rank*.txt"))
assert len(files) == w1, f"{len(files)} rank files in {d}, expected {w1} (the first start's ranks)"
epoch1, epoch2 = collections.Counter(), collections.Counter()
for r in range(w1):
    lines = [l.split() for l in open(f"{d}/samples.rank{r}.txt") if l.strip()]
    first = [l for l in lines if l[0] == "1"]
    assert len(first) == steps(w1), f"rank {r}: {len(first)} steps of epoch 1, expected {steps(w1)} (once, on {w1} ranks)"
    for l in first:
        epoch1.update(map(int, l[1:]))
    if r < w2:
        last = lines[-steps(w2):]
        assert all(l[0] == "2" for l in last), f"rank {r}: the last {steps(w2)} steps are not all epoch 2"
        for l in last:
            epoch2.update(map(int, l[1:]))
for e, uses in (("1 (first start)", epoch1), ("2 (second start)", epoch2)):
    bad = [i for i in range(n) if uses[i] != 1] + [i for i in uses if not 0 <= i < n]
    assert not bad, f"epoch {e}: {len(bad)} samples not used once, e.g. {[(i, uses[i]) for i in bad[:5]]}"
EOP
}

# MNIST_CLUSTER_CHECKS (default "1 2 3 4 5") picks the checks to run, for work on one of them.
want() { [[ " ${MNIST_CLUSTER_CHECKS:-1 2 3 4 5} " == *" $1 "* ]]; }
printf 'node2 slots=2\nnode3 slots=2\n' >"$tmp/hostfile"

# ---- 1. sbatch --nodes=2 --ntasks-per-node=2: srun --mpi=pmix across two nodes ----------
if want 1; then
id=$(submit two_nodes cpu_node.sbatch --nodes=2 "${train_env[@]}") || fail "sbatch refused the job"
ok "submitted jobs/cpu_node.sbatch --nodes=2 --ntasks-per-node=2 as job $id"
wait_job_end "$id" 300
check_job_end "$id" COMPLETED 0:0
log=$tmp/jobs/two_nodes.out
[ "$(job_field "$id" NodeList)" = "node[1-2]" ] || fail "job $id ran on $(job_field "$id" NodeList), not node[1-2]"
grep -q "^mnist_ddp: 4 ranks" "$log" || fail "the log does not show 4 ranks"
grep -q "bitwise identical on all 4 ranks" "$log" || fail "the ranks did not end with identical weights"
check_ranks "$tmp/jobs/two_nodes/report.json" node1 node1 node2 node2
btls=$(check_btls "$log" node1 node2 2>&1) || fail "$log: $btls"
acc1=$(accuracy_of "$log")
"$python" -c "import sys; sys.exit(0 if float('$acc1') >= 0.5 else 1)" || fail "test accuracy $acc1 (expected >= 0.5)"
check_model "$tmp/jobs/two_nodes/mnist_cnn_model.h5"
ok "job $id: COMPLETED 0:0 on node[1-2]; ranks 0,1 on node1 and 2,3 on node2 (node-local 0,1 each); $btls; test accuracy $acc1"

fi

# ---- 2. mpirun --hostfile across node2 and node3, no Slurm -------------------------------
if want 2; then
mkdir -p "$tmp/mpirun"
node_exec node2 mpirun --hostfile "$tmp/hostfile" -np 4 --mca plm_rsh_agent "$here/rsh_agent.sh" \
  "$bin" train --device cpu --threads 1 --data-dir "$data" "${train_args[@]}" --progress epoch \
  --output "$tmp/mpirun/model.h5" --report "$tmp/mpirun/report.json" >"$tmp/mpirun/log" 2>&1 ||
  { tail -n 30 "$tmp/mpirun/log"; fail "mpirun --hostfile across node2 and node3 failed"; }
check_ranks "$tmp/mpirun/report.json" node2 node2 node3 node3
btls=$(check_btls "$tmp/mpirun/log" node2 node3 2>&1) || fail "$tmp/mpirun/log: $btls"
acc2=$(accuracy_of "$tmp/mpirun/log")
[ -z "${acc1:-}" ] || acc_close "$acc1" "$acc2" || fail "mpirun's test accuracy $acc2, srun's $acc1"
ok "mpirun --hostfile (rsh agent: node_exec.sh): ranks 0,1 on node2, 2,3 on node3; $btls; test accuracy $acc2 (srun: $acc1)"

fi

# ---- 3. errors across ranks, four ranks on two nodes -------------------------------------
if want 3; then
# Bad input every rank finds alike (a malformed IDX file on the shared file
# system): one message, from rank 0, exit 2 on every rank through MPI_Finalize,
# no MPI_ABORT banner. Bad input on some ranks only (a data directory on node2's
# local /tmp, which node3 does not have): those ranks say so and MPI_Abort ends
# the job.
mkdir -p "$tmp/bad"
for f in train-images-idx3-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do ln -s "$data/$f" "$tmp/bad/$f"; done
printf 'PK\003\004 not an IDX file' >"$tmp/bad/train-labels-idx1-ubyte"
t0=$SECONDS
out=$(OMPI_MCA_btl_base_verbose=0 timeout 120 srun --mpi=pmix --nodes=2 --ntasks-per-node=2 --kill-on-bad-exit=1 \
      "$bin" train --device cpu --threads 1 --data-dir "$tmp/bad" --output "$tmp/never.h5" 2>&1)
rc=$? secs=$((SECONDS - t0))
n=$(grep -c "^mnist_ddp: error: .*train-labels-idx1-ubyte: bad magic" <<<"$out")
[ "$rc" -eq 2 ] && [ "$n" -eq 1 ] && ! grep -q "MPI_ABORT" <<<"$out" && [ "$secs" -le 60 ] ||
  { echo "$out" | tail -n 20; fail "a bad data file under srun on 2 nodes: exit $rc (want 2), message $n times (want 1), ${secs} s, or an abort"; }
[ ! -e "$tmp/never.h5" ] || fail "a model file was written after a bad data file"
ok "a malformed IDX file, 4 ranks on node[1-2] (srun): the message once, every rank exit 2, no MPI_ABORT, ${secs} s"
mkdir -p "$tmp/nodes/node2/tmp/mnist"
for f in "$data"/*-ubyte*; do ln -s "$f" "$tmp/nodes/node2/tmp/mnist/"; done
t0=$SECONDS
out=$(OMPI_MCA_btl_base_verbose=0 timeout 120 "$here/node_exec.sh" node2 mpirun --hostfile "$tmp/hostfile" -np 4 --mca plm_rsh_agent "$here/rsh_agent.sh" \
      "$bin" train --device cpu --threads 1 --data-dir /tmp/mnist --output "$tmp/never.h5" 2>&1)
rc=$? secs=$((SECONDS - t0))
n=$(grep -c "^mnist_ddp: error: data directory '/tmp/mnist' does not exist" <<<"$out")
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$n" -ge 1 ] && [ "$n" -le 2 ] && grep -q "MPI_ABORT" <<<"$out" && [ "$secs" -le 60 ] ||
  { echo "$out" | tail -n 20; fail "a data directory on node2 only: exit $rc, message $n times (want 1-2: node3's ranks), ${secs} s, or no abort"; }
ok "a data directory on node2's local disk only (mpirun, node2+node3): node3's ranks say so, MPI_Abort ends the job (exit $rc, ${secs} s)"

fi

# ---- 4. a node lost mid-training -----------------------------------------------------------
if want 4; then
# A job that takes every node it can (--nodes=2-3, 2 ranks per node: 6 ranks
# on node[1-3]), 2 epochs with a checkpoint at each epoch end. After epoch 1's
# checkpoint, node2 goes: (a) every process on it killed at once (slurmd,
# slurmstepd, the ranks); (b) its link down (all alive, unreachable; the ranks'
# watchdog, --comm-timeout 15, ends the step). The step must fail within a
# bounded time; slurmctld drops node2 from the job (--no-kill) and the batch
# script names the lost node and starts the ranks again on the nodes that
# remain (MIN_NODES=2: node1 and node3, 4 ranks, in the same job, not
# requeued), which resume from the 6-rank checkpoint and complete;
# the sample trace (MNIST_DDP_TRACE_SAMPLES) shows epoch 1 (6 ranks) and epoch
# 2 (4 ranks, from its start) each using every sample once. node2 comes back
# afterwards (ReturnToService=2).
prefix=$(cat "$tmp/netns_prefix")
lose_node() {  # lose_node kill|link NAME: submit, wait for the checkpoint, lose node2, check the ending
  local how=$1 name=$2 id log t0 ended limit cause
  mkdir -p "$tmp/jobs/$name/trace"
  id=$(submit "$name" cpu_node.sbatch --nodes=2-3 MIN_NODES=2 EPOCHS=2 TRAIN_LIMIT=1200 TEST_LIMIT=500 \
       BATCH_SIZE=32 NODE_LOSS_WAIT=60 "MNIST_DDP_TRACE_SAMPLES=$tmp/jobs/$name/trace" \
       "EXTRA_ARGS=--precise-bn 256 --no-early-stopping --comm-timeout 15") ||
    fail "sbatch refused the job"
  log=$tmp/jobs/$name.out
  # The checkpoint file, not its log line (the ranks' output reaches the log in blocks).
  until [ -s "$tmp/jobs/$name/checkpoint.h5" ]; do
    check_deadline "the checkpoint of job $id"
    [ "$(job_field "$id" JobState)" = RUNNING ] || [ "$(job_field "$id" JobState)" = PENDING ] ||
      fail "job $id ended ($(job_field "$id" JobState)) before its first checkpoint"
    sleep 0.5
  done
  [ "$(job_field "$id" NodeList)" = "node[1-3]" ] || fail "job $id runs on $(job_field "$id" NodeList), not node[1-3]"
  grep -q "^job $id (start 1) on node\[1-3\]: 6 ranks" "$log" || fail "job $id: the first start is not 6 ranks on node[1-3]"
  t0=$SECONDS
  if [ "$how" = kill ]; then
    # shellcheck disable=SC2046  # a list of pids
    kill -KILL $(ip netns pids "${prefix}_node2") 2>/dev/null
    wait "${slurmd_pid[node2]}" 2>/dev/null
    limit=60
  else
    ip -n "${prefix}_sw" link set port2 down || fail "cannot take node2's link down"
    limit=90
  fi
  echo "node2 lost ($how) at $(date +%T)"
  # The first step ends and the batch script starts the ranks again on the
  # nodes that remain, in the same job (slurmctld dropped node2 from it: --no-kill).
  until grep -q "^batch script: starting the ranks again on the nodes that remain: node\[1,3\], 4 ranks" "$log"; do
    [ $((SECONDS - t0)) -le "$limit" ] || fail "job $id not started again $limit s after node2 was lost ($(job_field "$id" JobState))"
    check_deadline "job $id to start again"
    sleep 1
  done
  ended=$((SECONDS - t0))
  grep -qE "STEP $id\.0 ON node1 CANCELLED|srun ended with exit status [1-9]|srun: error: Node failure on node2" "$log" ||
    fail "job $id: the step did not fail"
  grep -q "^batch script: lost node(s) node2" "$log" || fail "job $id: started again, but the batch script does not name node2"
  wait_job_end "$id" 400
  check_job_end "$id" COMPLETED 0:0
  [ "$(job_field "$id" Restarts)" = 0 ] || fail "job $id: Restarts=$(job_field "$id" Restarts), expected 0 (not requeued)"
  [ "$(job_field "$id" NodeList)" = "node[1,3]" ] || fail "job $id ended on $(job_field "$id" NodeList), not node[1,3]"
  grep -q "^Resumed from $tmp/jobs/$name/checkpoint.h5" "$log" || fail "job $id: the second start did not resume"
  grep -q "^Resuming after epoch 1 " "$log" || fail "job $id: not resumed after epoch 1 (node2 lost too late?)"
  grep -q "checkpoint.h5 was made with 6 ranks, this run has 4" "$log" ||
    fail "job $id: the second start does not say it resumed a 6-rank checkpoint on 4 ranks"
  each_sample_once_per_start "$tmp/jobs/$name/trace" 1080 32 6 4 || fail "job $id: sample trace in $tmp/jobs/$name/trace"
  [ "$(grep -c '^Epoch 2/2 ' "$log")" -eq 1 ] || fail "job $id: epoch 2 not logged once"
  [ "$(grep -c '^Epoch 1/2 ' "$log")" -eq 1 ] || fail "job $id: epoch 1 logged again (not resumed)"
  check_model "$tmp/jobs/$name/mnist_cnn_model.h5"
  ! ls "$tmp/jobs/$name"/*.tmp.* >/dev/null 2>&1 || fail "job $id: a half-written file is left: $(ls "$tmp/jobs/$name")"
  cause=$(grep -m1 -E "no progress in a collective|lost node|Node failure on node2|Connection reset|unreachable" "$log")
  [ -n "$cause" ] || fail "job $id: no message names the cause"
  ok "node2 lost ($how) in job $id: the step failed ('$cause'), the ranks started again $ended s later on node[1,3] in the same job (6 ranks -> 4), resumed from epoch 1, every sample once per epoch, COMPLETED 0:0"
}
bring_back_node2() {  # a slurmd on node2 again (after a kill), its link up (after link down), idle
  ip -n "${prefix}_sw" link set port2 up
  if ! kill -0 "${slurmd_pid[node2]}" 2>/dev/null; then
    "$here/node_exec.sh" node2 slurmd -D >>"$tmp/log/slurmd.node2.out" 2>&1 &
    slurmd_pid[node2]=$!
  fi
  scontrol update NodeName=node2 State=RESUME 2>/dev/null
  # Idle as slurmctld's node record says (State=IDLE, nothing allocated), up to
  # 2 minutes; sinfo's summary showed node2 "mixed" for over a minute after it
  # came back, with CPUAlloc=0, so it is not what is asked here.
  local start=$SECONDS
  until scontrol -o show node node2 2>/dev/null | grep -q ' CPUAlloc=0 .* State=IDLE '; do
    [ $((SECONDS - start)) -lt 120 ] && kill -0 "${slurmd_pid[node2]}" 2>/dev/null ||
      fail "node2 did not come back: $(scontrol -o show node node2 | grep -o 'State=[^ ]*'); jobs: $(squeue -h -o '%i %T %N' | tr '\n' ';')"
    sleep 1
  done
}
lose_node kill lost_kill
bring_back_node2
lose_node link lost_link
bring_back_node2

fi

# ---- 5. the scaling sweep in a two-node allocation ---------------------------------------
if want 5; then
id=$(submit sweep2 scaling_sweep.sbatch --nodes=2 --ntasks-per-node=2 --cpus-per-task=1 STEPS=3 MODES=weak "RANKS=2 4") ||
  fail "sbatch refused the sweep"
wait_job_end "$id" 300
check_job_end "$id" COMPLETED 0:0
csv=$tmp/jobs/sweep2/scaling_weak.csv
"$python" - "$csv" <<'EOP' || fail "$csv: $(cat "$csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
got = [(int(r["ranks"]), int(r["nodes"])) for r in rows]
assert got == [(2, 1), (4, 2)], f"(ranks, nodes) {got}, expected [(2, 1), (4, 2)]"
EOP
ok "scaling sweep (job $id) in a 2-node allocation: $csv has 2 ranks on 1 node, 4 ranks on 2 nodes"

fi
echo "PASS"

#!/usr/bin/env bash
# test_faults.sh BIN DATA_DIR MPIEXEC PYTHON PART — faults through the real program.
#
# PART (one ctest entry each, so each stays well under two minutes on 2 cores):
#   preempt  a 2-rank run stopped by SIGTERM in the middle of an epoch (the
#            MNIST_DDP_FAULT_* hook on rank 1) exits 3 with a checkpoint, and
#            `--resume auto` ends with bitwise the weights of the run left alone
#   signals  real signals from outside: SIGUSR1 to mpirun (forwarded to every
#            rank), SIGTERM to one rank's pid, SIGINT without --checkpoint;
#            --resume auto with no checkpoint, and with a corrupt newest one
#   dead     3 ranks, after the first checkpoint: one rank SIGKILLed, then one
#            rank stopped (SIGSTOP, hangs without dying): the job ends within
#            the bound with a message naming what happened, and the checkpoint
#            still loads
#   numeric  --lr 1e30: a non-finite loss stops the run with exit 1, leaving the
#            checkpoint and the model file as they were
#   writes   SIGKILL in the middle of writing the model, a checkpoint and the
#            report: the previous files are unchanged and still load
#   elastic  a 2-rank run stopped by SIGTERM in the middle of epoch 1, resumed
#            from its checkpoint on 3 ranks and on 1: the samples each rank
#            trained on (MNIST_DDP_TRACE_SAMPLES) show every sample of epoch 1
#            used exactly once across the two runs, and the run completes
# Prints "N passed, N failed".
set -u
bin=$1
data=$2
mpiexec=${3:-mpirun}
python=${4:-/usr/bin/python3}
h5_tools=$(cd "$(dirname "${BASH_SOURCE[0]}")/../python" && pwd)/h5_tools.py
part=${5:-all}
tmp=$(mktemp -d)
bg=()  # background jobs to end if the test itself is ended
cleanup() {
  for p in "${bg[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
ko() {  # ko WHAT [LOG]
  fail=$((fail + 1))
  echo "FAIL: $1"
  if [ $# -gt 1 ] && [ -f "$2" ]; then tail -15 "$2" | sed 's/^/    /'; fi
}

mpi=("$mpiexec" --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
# --precise-bn 0: the BatchNorm moving statistics then come from every step,
# so a resume inside an epoch must restore each rank's own (the strict case).
base=(--data-dir "$data" --test-limit 200 --batch-size 32 --threads 1 --progress epoch --precise-bn 0)
common=("${base[@]}" --train-limit 3000)  # 2700 training images: 43 steps per epoch on 2 ranks
small=("${base[@]}" --train-limit 600)    # 540: 17 steps per epoch on 1 rank

# The pid of rank R among mpirun's children (its environment names the rank).
rank_pid() {  # rank_pid MPIRUN_PID RANK
  local c
  for c in $(pgrep -P "$1"); do
    if tr '\0' '\n' <"/proc/$c/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

# Waits until FILE exists (up to SECONDS); false on time-out.
wait_for_file() {  # wait_for_file FILE SECONDS
  local deadline=$((SECONDS + $2))
  while [ ! -e "$1" ]; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# Exits 0 when both model files hold bitwise the same weights and BatchNorm statistics.
same_weights() {  # same_weights A B
  "$python" "$h5_tools" same-weights "$1" "$2"
}

# The training state of a checkpoint: "epochs_done epoch_steps_done".
checkpoint_position() {  # checkpoint_position FILE
  "$python" "$h5_tools" checkpoint-position "$1"
}

# A model or checkpoint file loads: `evaluate` reads it back and scores it.
loads() {  # loads FILE
  timeout 120 "$bin" evaluate --model "$1" --data-dir "$data" --test-limit 100 --threads 1 >"$tmp/loads.log" 2>&1
}

part_preempt() {
  local d=$tmp/preempt rc
  mkdir -p "$d"
  # Left alone: two epochs (3000 images: 2700 train, 43 steps per rank and epoch).
  "${mpi[@]}" -np 2 "$bin" "${common[@]}" --epochs 2 --checkpoint "$d/whole_ck.h5" --output "$d/whole.h5" \
    >"$d/whole.log" 2>&1 || ko "preempt: the uninterrupted run failed" "$d/whole.log"
  # Rank 1 alone receives SIGTERM after the 60th step (epoch 2, step 17): every
  # rank stops after step 18, rank 0 writes the checkpoint, all exit 3.
  "${mpi[@]}" -np 2 -x MNIST_DDP_FAULT_AFTER_STEPS=60 -x MNIST_DDP_FAULT_RANK=1 "$bin" "${common[@]}" --epochs 2 \
    --checkpoint "$d/ck.h5" --output "$d/cut.h5" >"$d/cut.log" 2>&1
  rc=$?
  if [ "$rc" -eq 3 ] && grep -q "Preempted by SIGTERM at epoch 2 step 18 (of 43; received by 1 of 2 ranks): checkpoint written to $d/ck.h5; resume with --resume auto" "$d/cut.log"; then ok; else
    ko "preempt: want exit 3 and the preemption message, got exit $rc" "$d/cut.log"
  fi
  if [ ! -e "$d/cut.h5" ]; then ok; else ko "preempt: a preempted run wrote the final model file"; fi
  if [ "$(checkpoint_position "$d/ck.h5")" = "1 18" ] && [ "$(checkpoint_position "$d/ck.h5.prev")" = "1 0" ]; then ok; else
    ko "preempt: checkpoint at '$(checkpoint_position "$d/ck.h5")', .prev at '$(checkpoint_position "$d/ck.h5.prev")' (want '1 18' and '1 0')"
  fi
  # Resumed: bitwise the weights of the run left alone.
  "${mpi[@]}" -np 2 "$bin" "${common[@]}" --epochs 2 --checkpoint "$d/ck.h5" --resume auto --output "$d/resumed.h5" \
    >"$d/resumed.log" 2>&1 || ko "preempt: the resumed run failed" "$d/resumed.log"
  if grep -q "Resuming epoch 2 after step 18 of 43" "$d/resumed.log"; then ok; else
    ko "preempt: the resumed run did not say where it resumed" "$d/resumed.log"
  fi
  if same_weights "$d/whole.h5" "$d/resumed.h5"; then ok; else ko "preempt: resumed weights differ from the run left alone"; fi
  # The resumed epoch reports the whole epoch's metrics, as the run left alone does.
  local want got
  want=$(grep "^Epoch 2/2" "$d/whole.log" | sed 's/ - [0-9]*s - / - /; s/ - [0-9]* img\/s//')
  got=$(grep "^Epoch 2/2" "$d/resumed.log" | sed 's/ - [0-9]*s - / - /; s/ - [0-9]* img\/s//')
  if [ -n "$want" ] && [ "$want" = "$got" ]; then ok; else ko "preempt: epoch 2 reads '$got', left alone '$want'"; fi
}

part_signals() {
  local d=$tmp/signals rc pid victim
  mkdir -p "$d"
  # (a) SIGUSR1 to mpirun (Slurm's --signal=USR1@T to the launcher): Open MPI
  # forwards it to every rank. --resume auto with nothing to resume from starts afresh.
  "${mpi[@]}" -np 2 "$bin" "${common[@]}" --epochs 3 --checkpoint "$d/u.h5" --resume auto --output "$d/u_model.h5" \
    >"$d/u.log" 2>&1 &
  pid=$!
  bg+=("$pid")
  if wait_for_file "$d/u.h5" 100; then kill -USR1 "$pid"; else ko "signals: no checkpoint after epoch 1"; fi
  wait "$pid"
  rc=$?
  if [ "$rc" -eq 3 ] && grep -q "Preempted by SIGUSR1 at epoch 2 step [0-9]* (of 43; received by 2 of 2 ranks): checkpoint written to $d/u.h5" "$d/u.log"; then ok; else
    ko "signals: SIGUSR1 to mpirun: want exit 3 and the preemption message, got exit $rc" "$d/u.log"
  fi
  if grep -q "no checkpoint at $d/u.h5 .*starting from scratch" "$d/u.log"; then ok; else
    ko "signals: --resume auto without a checkpoint did not say it starts from scratch" "$d/u.log"
  fi

  # (b) SIGTERM to one rank's pid (Slurm signals every task of a step itself).
  "${mpi[@]}" -np 2 "$bin" "${common[@]}" --epochs 3 --checkpoint "$d/t.h5" --output "$d/t_model.h5" \
    >"$d/t.log" 2>&1 &
  pid=$!
  bg+=("$pid")
  if wait_for_file "$d/t.h5" 100 && victim=$(rank_pid "$pid" 1); then kill -TERM "$victim"; else ko "signals: no rank 1 to signal"; fi
  wait "$pid"
  rc=$?
  if [ "$rc" -eq 3 ] && grep -q "Preempted by SIGTERM at epoch 2 step [0-9]* (of 43; received by 1 of 2 ranks): checkpoint written to $d/t.h5" "$d/t.log"; then ok; else
    ko "signals: SIGTERM to rank 1: want exit 3 and the preemption message, got exit $rc" "$d/t.log"
  fi

  # (c) The newest checkpoint corrupt: --resume auto says so and falls back to
  # .prev (the end of epoch 1); with --epochs 1 there is nothing left to train.
  head -c 5000 "$d/t.h5" >"$d/t.h5.cut" && mv "$d/t.h5.cut" "$d/t.h5"
  timeout 120 "$bin" "${common[@]}" --epochs 1 --checkpoint "$d/t.h5" --resume auto --output "$d/t_model.h5" \
    >"$d/fallback.log" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ] && grep -q "passing over $d/t.h5: " "$d/fallback.log" &&
    grep -q "falling back to the previous checkpoint $d/t.h5.prev" "$d/fallback.log" &&
    grep -q "Resuming after epoch 1" "$d/fallback.log"; then ok; else
    ko "signals: corrupt newest checkpoint: exit $rc, or no fallback to .prev" "$d/fallback.log"
  fi
  # Both corrupt: refused (exit 2) rather than silently starting afresh over them.
  cp "$d/t.h5" "$d/t.h5.prev"
  timeout 120 "$bin" "${common[@]}" --epochs 1 --checkpoint "$d/t.h5" --resume auto --output "$d/t_model.h5" \
    >"$d/none.log" 2>&1
  rc=$?
  if [ "$rc" -eq 2 ] && grep -q "no valid checkpoint among" "$d/none.log"; then ok; else
    ko "signals: two corrupt checkpoints: want exit 2, got $rc" "$d/none.log"
  fi

  # (d) SIGINT, single process, no --checkpoint: stops cleanly, says nothing was saved.
  MNIST_DDP_FAULT_AFTER_STEPS=3 MNIST_DDP_FAULT_SIGNAL=INT timeout 120 "$bin" "${small[@]}" --epochs 1 --output "$d/i_model.h5" >"$d/i.log" 2>&1
  rc=$?
  if [ "$rc" -eq 3 ] && grep -q "Preempted by SIGINT at epoch 1 step 4 (of 17; received by 1 of 1 rank): no --checkpoint was given, nothing was saved" "$d/i.log" &&
    [ ! -e "$d/i_model.h5" ]; then ok; else
    ko "signals: SIGINT without --checkpoint: want exit 3 and 'nothing was saved', got $rc" "$d/i.log"
  fi
}

part_dead() {
  local d=$tmp/dead rc pid victim t0 secs
  mkdir -p "$d"
  # (a) One of 3 ranks SIGKILLed mid-training: mpirun ends the job.
  "${mpi[@]}" -np 3 "$bin" "${common[@]}" --epochs 4 --checkpoint "$d/k.h5" --output "$d/k_model.h5" \
    --comm-timeout 10 >"$d/k.log" 2>&1 &
  pid=$!
  bg+=("$pid")
  if wait_for_file "$d/k.h5" 100 && victim=$(rank_pid "$pid" 1); then
    sleep 1
    t0=$SECONDS
    kill -KILL "$victim"
  else
    ko "dead: no rank 1 to kill"
    t0=$SECONDS
  fi
  wait "$pid"
  rc=$?
  secs=$((SECONDS - t0))
  if [ "$rc" -ne 0 ] && [ "$secs" -le 30 ] && grep -q "exited on signal 9" "$d/k.log"; then ok; else
    ko "dead: SIGKILL of rank 1: exit $rc after ${secs}s (want non-zero within 30 s, naming signal 9)" "$d/k.log"
  fi
  if loads "$d/k.h5"; then ok; else ko "dead: the checkpoint before the kill does not load" "$tmp/loads.log"; fi

  # (b) One of 3 ranks stopped (hangs without dying): the others' watchdog
  # ends the job after --comm-timeout 5 s, and the launcher reaps the stopped one.
  "${mpi[@]}" -np 3 "$bin" "${common[@]}" --epochs 4 --checkpoint "$d/s.h5" --output "$d/s_model.h5" \
    --comm-timeout 5 >"$d/s.log" 2>&1 &
  pid=$!
  bg+=("$pid")
  victim=""
  if wait_for_file "$d/s.h5" 100 && victim=$(rank_pid "$pid" 2); then
    t0=$SECONDS
    kill -STOP "$victim"
    bg+=("$victim")
  else
    ko "dead: no rank 2 to stop"
    t0=$SECONDS
  fi
  wait "$pid"
  rc=$?
  secs=$((SECONDS - t0))
  if [ "$rc" -ne 0 ] && [ "$secs" -le 40 ] &&
    grep -Eq "rank [01]: no progress in a collective for 5 s \(a rank died or hangs\?\)" "$d/s.log"; then ok; else
    ko "dead: SIGSTOP of rank 2: exit $rc after ${secs}s (want non-zero within 40 s and the watchdog's message)" "$d/s.log"
  fi
  sleep 3
  if [ -n "$victim" ] && kill -0 "$victim" 2>/dev/null; then ko "dead: the stopped rank is still there after the job ended"; else ok; fi
  if loads "$d/s.h5" && [ "$(checkpoint_position "$d/s.h5")" = "1 0" ]; then ok; else
    ko "dead: the checkpoint of epoch 1 is not intact after the hang" "$tmp/loads.log"
  fi
}

part_numeric() {
  local d=$tmp/numeric rc before after
  mkdir -p "$d"
  # A good first run leaves a checkpoint and a model file...
  timeout 120 "$bin" "${small[@]}" --epochs 1 --checkpoint "$d/ck.h5" --output "$d/m.h5" >"$d/good.log" 2>&1 || ko "numeric: the first run failed" "$d/good.log"
  before=$(sha256sum "$d/ck.h5" "$d/m.h5" | cut -c1-64)
  # ...that an absurd learning rate must not overwrite: every rank detects the
  # non-finite loss at the same step and the job ends with exit 1.
  "${mpi[@]}" -np 2 "$bin" "${small[@]}" --epochs 1 --lr 1e30 --checkpoint "$d/ck.h5" \
    --output "$d/m.h5" >"$d/nan.log" 2>&1
  rc=$?
  if [ "$rc" -eq 1 ] && grep -Eq "error: non-finite (training loss|gradient|weights).* at epoch 1 step [0-9]+ \(learning rate 1e\+30 too large\?\)" "$d/nan.log" &&
    ! grep -q "MPI_ABORT" "$d/nan.log"; then ok; else
    ko "numeric: --lr 1e30: want exit 1 and the non-finite message without MPI_Abort, got exit $rc" "$d/nan.log"
  fi
  after=$(sha256sum "$d/ck.h5" "$d/m.h5" | cut -c1-64)
  if [ "$before" = "$after" ] && loads "$d/m.h5"; then ok; else ko "numeric: the checkpoint or the model file changed"; fi
}

part_writes() {
  local d=$tmp/writes rc before what
  mkdir -p "$d"
  local short=("${small[@]}" --epochs 1 --checkpoint "$d/ck.h5" --output "$d/m.h5"
               --report "$d/r.json")
  timeout 120 "$bin" "${short[@]}" >"$d/good.log" 2>&1 || ko "writes: the first run failed" "$d/good.log"
  # Again, each time killed (SIGKILL) with the new file written and synced
  # under its temporary name, just before the rename that publishes it (the
  # checkpoint is written first, then the model, then the report).
  for what in ck.h5 m.h5 r.json; do
    before=$(cat "$d/$what" "$d/$what.prev" 2>/dev/null | sha256sum)
    MNIST_DDP_FAULT_KILL_BEFORE_RENAME="$d/$what" timeout 120 "$bin" "${short[@]}" >"$d/kill_$what.log" 2>&1
    rc=$?
    if [ "$rc" -eq 137 ] && ls "$d" | grep -q "^$what\.\(next\.\)\?tmp\.[0-9]*$"; then ok; else
      ko "writes: want a SIGKILL (137) while writing $what, with its temporary file left, got exit $rc" "$d/kill_$what.log"
    fi
    if [ "$before" = "$(cat "$d/$what" "$d/$what.prev" 2>/dev/null | sha256sum)" ]; then ok; else
      ko "writes: killed while writing $what, the published $what changed"
    fi
    rm -f "$d"/*.tmp.*
  done
  if loads "$d/m.h5" && loads "$d/ck.h5" && "$python" -c "import json,sys; json.load(open(sys.argv[1]))" "$d/r.json"; then ok; else
    ko "writes: a file does not load after the kills" "$tmp/loads.log"
  fi
}

# Exits 0 when the epoch-EPOCH lines of the traces in the DIRs use each of the
# N training samples exactly once (the trace lines: epoch, then sample ids).
each_sample_once() {  # each_sample_once N EPOCH DIR...
  "$python" - "$@" <<'PY'
import collections, glob, sys
n, epoch, dirs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
uses = collections.Counter()
for d in dirs:
    for path in glob.glob(d + "/samples.rank*.txt"):
        for line in open(path):
            fields = line.split()
            if fields and fields[0] == epoch:
                uses.update(int(x) for x in fields[1:])
bad = [i for i in range(n) if uses[i] != 1] + [i for i in uses if not 0 <= i < n]
if bad:
    print("epoch %s: %d samples not used once, e.g. %s" % (epoch, len(bad), [(i, uses[i]) for i in bad[:5]]))
    sys.exit(1)
PY
}

part_elastic() {
  local d=$tmp/elastic rc w
  mkdir -p "$d/cut" "$d/on3" "$d/on1"
  # 540 training images: 270 per rank, 9 steps of 32 on 2 ranks. Rank 0 gets
  # SIGTERM after its step 2, all stop after step 3: 192 samples consumed, 348 left (116 per rank on 3).
  "${mpi[@]}" -np 2 -x MNIST_DDP_FAULT_AFTER_STEPS=2 -x MNIST_DDP_TRACE_SAMPLES="$d/cut" "$bin" "${small[@]}" \
    --epochs 2 --checkpoint "$d/ck.h5" --output "$d/cut.h5" >"$d/cut.log" 2>&1
  rc=$?
  if [ "$rc" -eq 3 ] && [ "$(checkpoint_position "$d/ck.h5")" = "0 3" ]; then ok; else
    ko "elastic: want exit 3 and a checkpoint after epoch 1 step 3, got exit $rc at '$(checkpoint_position "$d/ck.h5")'" "$d/cut.log"
  fi
  for w in 3 1; do
    cp "$d/ck.h5" "$d/ck$w.h5"
    "${mpi[@]}" -np "$w" -x MNIST_DDP_TRACE_SAMPLES="$d/on$w" "$bin" "${small[@]}" --epochs 2 --resume "$d/ck$w.h5" \
      --output "$d/model$w.h5" >"$d/on$w.log" 2>&1 || ko "elastic: the run resumed on $w ranks failed" "$d/on$w.log"
    if grep -q "made with 2 ranks, this run has $w" "$d/on$w.log" && [ -s "$d/model$w.h5" ]; then ok; else
      ko "elastic: the run resumed on $w ranks did not warn of the rank count or wrote no model" "$d/on$w.log"
    fi
    if each_sample_once 540 1 "$d/cut" "$d/on$w"; then ok; else ko "elastic: epoch 1 split between 2 and $w ranks"; fi
    if each_sample_once 540 2 "$d/on$w"; then ok; else ko "elastic: epoch 2 on $w ranks"; fi
  done
}

case "$part" in
  preempt | signals | dead | numeric | writes | elastic) "part_$part" ;;
  all) for p in preempt signals dead numeric writes elastic; do "part_$p"; done ;;
  *) echo "unknown part '$part'"; exit 2 ;;
esac

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

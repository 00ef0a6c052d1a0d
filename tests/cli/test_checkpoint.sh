#!/usr/bin/env bash
# test_checkpoint.sh BIN DATA_DIR [PYTHON] — checkpoints and --resume through the real
# program: a run stopped after epoch 1 and resumed for epoch 2 ends with bitwise
# the weights of the same run left alone; bad --resume files are refused.
# Prints "N passed, N failed".
set -u
bin=$1
data=$2
python=${3:-/usr/bin/python3}
. "$(dirname "${BASH_SOURCE[0]}")/tally.sh"
h5_tools=$(cd "$(dirname "${BASH_SOURCE[0]}")/../python" && pwd)/h5_tools.py

common=(--data-dir "$data" --train-limit 1200 --test-limit 200 --batch-size 32 --threads 1 --progress none
        --precise-bn 256)

# Left alone: two epochs.
"$bin" "${common[@]}" --epochs 2 --output "$tmp/whole.h5" >"$tmp/whole.log" 2>&1 || ko "uninterrupted run failed: $(tail -3 "$tmp/whole.log")"
# Interrupted: one epoch with a checkpoint, then resumed to two.
"$bin" "${common[@]}" --epochs 1 --checkpoint "$tmp/ck.h5" --output "$tmp/first.h5" >"$tmp/first.log" 2>&1 || ko "first half failed: $(tail -3 "$tmp/first.log")"
"$bin" "${common[@]}" --epochs 2 --resume "$tmp/ck.h5" --output "$tmp/resumed.h5" >"$tmp/resumed.log" 2>&1 || ko "resumed run failed: $(tail -3 "$tmp/resumed.log")"
if grep -q "Resumed from $tmp/ck.h5" "$tmp/resumed.log"; then ok; else ko "resumed run did not say it resumed"; fi

if "$python" "$h5_tools" same-weights "$tmp/whole.h5" "$tmp/resumed.h5"
then ok; else ko "resumed weights differ from the uninterrupted run"; fi

# A model file is not a checkpoint; a corrupt file and a missing one are refused.
expect_fail() {  # PATTERN ARGS...
  local pattern=$1
  shift
  local out rc
  out=$(timeout 60 "$bin" "${common[@]}" --epochs 2 --output "$tmp/x.h5" "$@" 2>&1)
  rc=$?
  if [ "$rc" -eq 2 ] && grep -qE -- "$pattern" <<<"$out"; then ok; else ko "$* -> exit $rc: $(echo "$out" | tail -2)"; fi
}
expect_fail "whole.h5.*not a checkpoint" --resume "$tmp/whole.h5"
head -c 3000 "$tmp/ck.h5" >"$tmp/truncated.h5"
expect_fail "truncated.h5" --resume "$tmp/truncated.h5"
expect_fail "missing.h5" --resume "$tmp/missing.h5"
expect_fail "optimizer" --resume "$tmp/ck.h5" --optimizer sgd
expect_fail "--resume auto: needs --checkpoint" --resume auto

tally

#!/usr/bin/env bash
# test_keras_h5_roundtrip.sh — the real program's model file, read independently.
#
# Trains a tiny run with mnist_ddp (2000 training images, one epoch), then has
# check_keras_h5.py — h5py + numpy only, no code of this project — validate the
# Keras layout and recompute the test accuracy with its own forward pass. The
# accuracy must equal the program's report (test.accuracy) to within 0.0005,
# i.e. the same predictions on the first 1000 test images: this is what says the
# file means to another reader what it means to us. Two negative checks make sure
# the checker can fail at all.
#
# The same for Keras 3's format: a run with --output m.keras (1000 training
# images, the first 500 test images), the checker's
# .keras reading (zipfile + h5py, Keras 3's layout) and forward pass must give the
# report's accuracy, and `evaluate --model m.keras` (and of a copy repacked by
# Python's zipfile with deflated entries) the report's test figures exactly.
#
# usage: test_keras_h5_roundtrip.sh MNIST_DDP_EXE MNIST_DIR PYTHON CHECK_SCRIPT
set -u
exe=$1 data=$2 python=$3 check=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

if "$exe" --train-limit 2000 --test-limit 1000 --epochs 1 --progress none \
     --output "$tmp/m.h5" --report "$tmp/r.json" --data-dir "$data" >"$tmp/train.log" 2>&1 \
   && [ -s "$tmp/m.h5" ]; then
  pass "training writes the model file"
else
  cat "$tmp/train.log"
  fail "training writes the model file"
fi

leftovers=$(find "$tmp" -name '*.tmp.*' | wc -l)
if [ "$leftovers" -eq 0 ]; then pass "no temporary files left"; else fail "no temporary files left ($leftovers)"; fi

accuracy=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["test"]["accuracy"])' "$tmp/r.json" 2>/dev/null)
if [ -n "$accuracy" ]; then
  pass "report has test.accuracy ($accuracy)"
  if "$python" "$check" "$tmp/m.h5" "$data" --limit 1000 --expect-accuracy "$accuracy" --tolerance 0.0005; then
    pass "independent numpy forward pass matches the report's accuracy"
  else
    fail "independent numpy forward pass matches the report's accuracy"
  fi
  # The checker must be able to fail: a wrong expectation is rejected.
  wrong=$("$python" -c 'import sys; a=float(sys.argv[1]); print(a - 0.05 if a > 0.5 else a + 0.05)' "$accuracy")
  if "$python" "$check" "$tmp/m.h5" "$data" --limit 1000 --expect-accuracy "$wrong" >/dev/null 2>&1; then
    fail "checker rejects a wrong accuracy"
  else
    pass "checker rejects a wrong accuracy"
  fi
else
  fail "report has test.accuracy"
fi

# ---- Keras 3 .keras -----------------------------------------------------------------
same_test() {  # same_test A.json B.json: the same test accuracy, loss and confusion matrix
  "$python" - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p))["test"] for p in sys.argv[1:3])
ok = a["accuracy"] == b["accuracy"] and abs(a["loss"] - b["loss"]) <= 1e-9 and a["confusion_matrix"] == b["confusion_matrix"]
print("test accuracy %s / %s, loss %s / %s" % (a["accuracy"], b["accuracy"], a["loss"], b["loss"]))
sys.exit(0 if ok else 1)
PY
}
if "$exe" --train-limit 1000 --test-limit 500 --epochs 1 --progress none \
     --output "$tmp/m.keras" --report "$tmp/rk.json" --data-dir "$data" >"$tmp/train-keras.log" 2>&1 \
   && [ -s "$tmp/m.keras" ]; then
  pass "training writes the .keras file"
  kacc=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["test"]["accuracy"])' "$tmp/rk.json")
  if "$python" "$check" "$tmp/m.keras" "$data" --limit 500 --expect-accuracy "$kacc" --tolerance 0.0005; then
    pass "independent numpy forward pass from the .keras file matches the report's accuracy"
  else
    fail "independent numpy forward pass from the .keras file matches the report's accuracy"
  fi
  cp "$tmp/m.keras" "$tmp/good.keras" && "$python" "$(dirname "$check")/h5_tools.py" keras-copies "$tmp"
  for f in m deflated; do
    if "$exe" evaluate --model "$tmp/$f.keras" --test-limit 500 --progress none --data-dir "$data" \
         --report "$tmp/e-$f.json" >"$tmp/e-$f.log" 2>&1 && same_test "$tmp/rk.json" "$tmp/e-$f.json"; then
      pass "evaluate --model $f.keras gives the run's test figures"
    else
      cat "$tmp/e-$f.log"
      fail "evaluate --model $f.keras gives the run's test figures"
    fi
  done
else
  cat "$tmp/train-keras.log"
  fail "training writes the .keras file"
fi

echo "not a model" >"$tmp/bad.h5"
if "$python" "$check" "$tmp/bad.h5" "$data" --limit 10 >/dev/null 2>&1; then
  fail "checker rejects a non-HDF5 file"
else
  pass "checker rejects a non-HDF5 file"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

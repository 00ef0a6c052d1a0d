#!/usr/bin/env bash
# test_keras_tfjs.sh — the model file read by tfjs-layers (check_keras_tfjs.mjs).
#
#   test_keras_tfjs.sh trained EXE DATA PYTHON   trains a short run (2000 training
#       images, 1 epoch, the first 500 test images) and checks its model file,
#       training_config required, against its report
#   test_keras_tfjs.sh file MODEL REPORT DATA    checks a model file made before
#       (the committed fixture tests/fixtures/v0: results/ holds no .h5)
#   test_keras_tfjs.sh wrong MODEL REPORT DATA PYTHON   the check must fail:
#       copies of MODEL with a spatially transposed conv2d kernel and with a
#       renamed weight (tests/python/h5_tools.py wrong-weights) are rejected,
#       each for its own reason
#
# Needs node and tests/keras_js/node_modules (scripts/setup.sh: npm ci from the
# committed lock file); nothing is fetched here. Exit 77 (skipped) without node.
set -u
here=$(cd "$(dirname "$0")" && pwd)
check="$here/check_keras_tfjs.mjs"
command -v node >/dev/null 2>&1 || { echo "SKIP: no node on PATH"; exit 77; }
if [ ! -f "$here/node_modules/@tensorflow/tfjs-layers/package.json" ] || [ ! -f "$here/node_modules/h5wasm/package.json" ]; then
  echo "FAIL: $here/node_modules is not installed: run scripts/setup.sh (npm ci --ignore-scripts there)"
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mode=$1
shift

case "$mode" in
  trained)
    exe=$1 data=$2
    if ! "$exe" --train-limit 2000 --test-limit 500 --epochs 1 --progress none \
         --output "$tmp/m.h5" --report "$tmp/r.json" --data-dir "$data" >"$tmp/train.log" 2>&1; then
      cat "$tmp/train.log"
      echo "FAIL training"
      exit 1
    fi
    node "$check" "$tmp/m.h5" "$tmp/r.json" "$data" --require-training-config
    ;;
  file)
    node "$check" "$1" "$2" "$3"
    ;;
  wrong)
    model=$1 report=$2 data=$3 python=$4
    "$python" "$here/../python/h5_tools.py" wrong-weights "$model" "$tmp" || exit 1
    failed=0
    expect_failure() {  # NAME REGEX: the check fails on NAME.h5, saying REGEX
      if node "$check" "$tmp/$1.h5" "$report" "$data" >"$tmp/$1.log" 2>&1; then
        cat "$tmp/$1.log"; echo "FAIL the check accepted $1.h5"; failed=1
      elif grep -Eq "$2" "$tmp/$1.log"; then
        echo "ok   the check rejects $1.h5: $(grep -E '^FAIL' "$tmp/$1.log" | head -1 | cut -c1-160)"
      else
        cat "$tmp/$1.log"; echo "FAIL $1.h5 was rejected, but not for the expected reason ($2)"; failed=1
      fi
    }
    expect_failure transposed "^FAIL (accuracy|confusion matrix|loss) .*differs from the report"
    expect_failure renamed "^FAIL .*(kernel_renamed|no target variable)"
    exit $failed
    ;;
  *)
    echo "usage: $0 trained|file|wrong ..."; exit 2
    ;;
esac

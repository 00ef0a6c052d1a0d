#!/usr/bin/env bash
# Test of scripts/plots.py: runs it on a small synthetic run report (written
# here) plus the real MNIST data dir, checks that every PNG exists and is a
# non-empty valid PNG, and that missing or malformed inputs give a non-zero
# exit status with a message.
#
# Usage: tests/python/test_plots.sh DATA_DIR [PLOTS_PY]
#   DATA_DIR  directory with the four MNIST IDX files
#   PLOTS_PY  the script to test (default: scripts/plots.py of this tree)
# The interpreter is $PYTHON if set, else the first of /usr/bin/python3 and
# python3 that can import numpy and matplotlib; with none, the test is skipped
# (exit 77).
set -u

DATA_DIR=${1:?usage: test_plots.sh DATA_DIR [PLOTS_PY]}
HERE=$(cd "$(dirname "$0")" && pwd)
PLOTS=${2:-$HERE/../../scripts/plots.py}

pass=0
fail=0
ok()  { pass=$((pass + 1)); echo "PASS: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }

PY=""
for cand in ${PYTHON:-} /usr/bin/python3 python3; do
  if command -v "$cand" >/dev/null 2>&1 &&
     "$cand" -c 'import numpy, matplotlib' >/dev/null 2>&1; then
    PY=$cand
    break
  fi
done
if [ -z "$PY" ]; then
  echo "SKIP: no python3 with numpy and matplotlib"
  exit 77
fi
if [ ! -f "$PLOTS" ]; then
  echo "FAIL: $PLOTS not found"
  echo "0 passed, 1 failed"
  exit 1
fi
if [ ! -f "$DATA_DIR/t10k-labels-idx1-ubyte" ]; then
  echo "FAIL: no MNIST data in $DATA_DIR"
  echo "0 passed, 1 failed"
  exit 1
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export MPLCONFIGDIR="$TMP/mplconfig"

# Synthetic report: 4 epochs, a confusion matrix summing to 1000, and
# predictions for the first 40 test images (labels read from the IDX file,
# every 7th prediction wrong).
"$PY" "$(dirname "${BASH_SOURCE[0]}")/make_plot_reports.py" "$DATA_DIR" "$TMP"
if [ ! -f "$TMP/report.json" ]; then
  echo "FAIL: could not write the synthetic report"
  echo "0 passed, 1 failed"
  exit 1
fi
printf '{"history": [' > "$TMP/report_truncated.json"

is_png() {  # file exists, non-empty, starts with the 8-byte PNG signature
  [ -s "$1" ] &&
    [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]
}

PICTURES="sample_images class_distribution training_curves confusion_matrix predictions"

# 1. Full run, with predictions.
OUT=$TMP/out
if "$PY" "$PLOTS" --report "$TMP/report.json" --data-dir "$DATA_DIR" \
     --out-dir "$OUT" > "$TMP/log" 2>&1; then
  ok "plots.py exits 0 on a valid report"
else
  bad "plots.py failed on a valid report:"; cat "$TMP/log"
fi
for p in $PICTURES; do
  if is_png "$OUT/$p.png"; then ok "$p.png is a valid PNG"
  else bad "$p.png missing, empty or not a PNG"; fi
done

# 2. No test_predictions: the four other pictures, predictions skipped.
OUT2=$TMP/out2
if "$PY" "$PLOTS" --report "$TMP/report_nopred.json" --data-dir "$DATA_DIR" \
     --out-dir "$OUT2" > "$TMP/log2" 2>&1; then
  ok "plots.py exits 0 without test_predictions"
else
  bad "plots.py failed without test_predictions:"; cat "$TMP/log2"
fi
all4=1
for p in sample_images class_distribution training_curves confusion_matrix; do
  is_png "$OUT2/$p.png" || all4=0
done
if [ $all4 = 1 ]; then ok "four pictures written without predictions"
else bad "some picture missing without predictions"; fi
if [ ! -e "$OUT2/predictions.png" ] && grep -q "skipping predictions.png" "$TMP/log2"; then
  ok "predictions.png skipped with a message"
else
  bad "predictions.png not skipped cleanly"; cat "$TMP/log2"
fi

# 3. Bad inputs: non-zero exit status and an error message.
expect_error() {  # description, then the arguments
  local what=$1; shift
  if "$PY" "$PLOTS" "$@" > "$TMP/errlog" 2>&1; then
    bad "$what: exit status 0"
  elif grep -q "plots.py: error" "$TMP/errlog" && ! grep -q Traceback "$TMP/errlog"; then
    ok "$what: non-zero exit with a message"
  else
    bad "$what: no error message"; cat "$TMP/errlog"
  fi
}
expect_error "missing report" --report "$TMP/nope.json" --data-dir "$DATA_DIR" --out-dir "$TMP/o3"
expect_error "truncated JSON" --report "$TMP/report_truncated.json" --data-dir "$DATA_DIR" --out-dir "$TMP/o3"
expect_error "2x2 confusion matrix" --report "$TMP/report_badcm.json" --data-dir "$DATA_DIR" --out-dir "$TMP/o3"
expect_error "missing data dir" --report "$TMP/report.json" --data-dir "$TMP/no_data" --out-dir "$TMP/o3"
mkdir -p "$TMP/short_data"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte; do
  ln -s "$(cd "$DATA_DIR" && pwd)/$f" "$TMP/short_data/$f"
done
head -c 100 "$DATA_DIR/t10k-labels-idx1-ubyte" > "$TMP/short_data/t10k-labels-idx1-ubyte"
expect_error "truncated IDX file" --report "$TMP/report.json" --data-dir "$TMP/short_data" --out-dir "$TMP/o3"
expect_error "missing --report" --data-dir "$DATA_DIR" --out-dir "$TMP/o3"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

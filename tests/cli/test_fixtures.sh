#!/usr/bin/env bash
# test_fixtures.sh BIN DATA_DIR [PYTHON] — files written by an earlier release
# (tests/fixtures/v0, commit 0df2e19; see its README) still work in this one:
#   * `evaluate` of its model.h5 reproduces the test accuracy in its report.json
#     (to within 0.2 %: another CPU's BLAS kernel may round differently);
#   * `--resume` of its epoch-1 checkpoint, with the options it was made with,
#     continues at epoch 2 (epoch 1's record comes from the file, unchanged)
#     and completes.
# No time limits of its own: ctest's TIMEOUT bounds it (a loaded machine is slow).
# Prints "N passed, N failed".
set -u
bin=$1
data=$2
python=${3:-python3}
fixtures=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures/v0" && pwd)
. "$(dirname "${BASH_SOURCE[0]}")/tally.sh"

# A value of a JSON file: json_value FILE EXPR (EXPR in Python over `r`).
json_value() { "$python" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# ---- the model file ------------------------------------------------------------
if "$bin" evaluate --model "$fixtures/model.h5" --data-dir "$data" --test-limit 500 --progress none \
    --report "$tmp/eval.json" >"$tmp/eval.log" 2>&1; then
  ok
  want=$(json_value "$fixtures/report.json" 'r["test"]["accuracy"]')
  got=$(json_value "$tmp/eval.json" 'r["test"]["accuracy"]')
  if "$python" -c 'import sys; sys.exit(abs(float(sys.argv[1]) - float(sys.argv[2])) > 0.002)' "$want" "$got"; then
    ok
  else
    ko "evaluate of the v0 model: test accuracy $got, the fixture's report says $want"
  fi
else
  ko "evaluate of the v0 model failed: $(tail -3 "$tmp/eval.log")"
fi

# ---- the checkpoint ------------------------------------------------------------
# The options of the run that wrote it (README.md), less its outputs.
if "$bin" train --data-dir "$data" --epochs 2 --train-limit 2000 --test-limit 500 --batch-size 64 \
    --resume "$fixtures/checkpoint_epoch1.h5" --output "$tmp/model.h5" --report "$tmp/report.json" \
    --progress epoch >"$tmp/resume.log" 2>&1; then
  ok
else
  ko "resuming the v0 checkpoint failed: $(tail -3 "$tmp/resume.log")"
fi
if grep -q "Resumed from $fixtures/checkpoint_epoch1.h5" "$tmp/resume.log"; then ok; else ko "no 'Resumed from' line"; fi
if grep -q "^Epoch 1/" "$tmp/resume.log"; then ko "the resumed run trained epoch 1 again"; else ok; fi
if grep -q "^Epoch 2/2" "$tmp/resume.log"; then ok; else ko "the resumed run did not train epoch 2"; fi
if [ -s "$tmp/report.json" ] &&
   [ "$(json_value "$tmp/report.json" '[e["epoch"] for e in r["history"]]')" = "[1, 2]" ] &&
   "$python" - "$tmp/report.json" "$fixtures/report.json" <<'PY'
import json, sys
# Epoch 1 as the v0 file recorded it; later fields (lr_target, version 3) have their defaults.
got, want = (json.load(open(p))["history"][0] for p in sys.argv[1:])
sys.exit(not ({k: got[k] for k in want} == want and got.get("lr_target", want["lr"]) == want["lr"]))
PY
then
  ok
  echo "resumed run: test accuracy $(json_value "$tmp/report.json" 'r["test"]["accuracy"]')"
else
  ko "the resumed run's history is not the checkpoint's epoch 1 and a new epoch 2"
fi

tally

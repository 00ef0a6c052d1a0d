#!/usr/bin/env bash
# test_predict.sh BIN DATA_DIR [MPIEXEC] — the model-using commands end to end
# with the real program: train a small model, then
#   * predict on the first 20 MNIST test images exported as PNG: at least 18
#     right, and each inverted copy (dark digit on light paper, as a scan or a
#     drawing would be) gets the same answer as its original;
#   * a corrupt PNG among good ones: its error names it, the others are still
#     answered, and the exit code is 2;
#   * evaluate with 1 and 2 ranks prints the same "Test loss ... test accuracy" line.
# PNGs are written by a few lines of plain Python (zlib + struct), so the test
# needs no imaging package. Prints "N passed, N failed".
set -u
bin=$1
data=$2
mpiexec=${3:-mpirun}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  echo "FAIL: $*"
}

# ---- a small model --------------------------------------------------------------
if ! timeout 600 "$bin" train --data-dir "$data" --train-limit 6000 --test-limit 1000 --epochs 1 --progress none \
    --output "$tmp/m.h5" >"$tmp/train.log" 2>&1 || [ ! -s "$tmp/m.h5" ]; then
  bad "training did not write $tmp/m.h5:"
  tail -5 "$tmp/train.log" | sed 's/^/    /'
  echo "$pass passed, $fail failed"
  exit 1
fi
ok

# ---- the first 20 test images as PNG, and inverted copies ------------------------
if ! python3 "$(dirname "${BASH_SOURCE[0]}")/export_test_pngs.py" "$data" "$tmp"; then
  bad "could not export the test images as PNG"
fi

files=()
inverted=()
for i in $(seq -f %02g 0 19); do
  files+=("$tmp/digit$i.png")
  inverted+=("$tmp/inverted$i.png")
done

# "FILE: D (p=...)  probabilities: ..." → the digit D of each line, in order.
digits_of() { sed -n 's/^.*: \([0-9]\) (p=[0-9.]*)  probabilities:.*$/\1/p'; }

out=$(timeout 120 "$bin" predict --model "$tmp/m.h5" "${files[@]}" 2>&1)
rc=$?
predicted=$(digits_of <<<"$out")
if [ "$rc" -eq 0 ] && [ "$(wc -l <<<"$predicted")" -eq 20 ]; then ok; else
  bad "predict on 20 PNGs -> exit $rc, $(wc -l <<<"$predicted") answers (want 0, 20):"
  echo "$out" | head -5 | sed 's/^/    /'
fi
if grep -qE "^$tmp/digit00.png: [0-9] \(p=[01]\.[0-9]{4}\)  probabilities: 0:[01]\.[0-9]{4} 1:.* 9:[01]\.[0-9]{4}$" <<<"$out"; then
  ok
else
  bad "predict line format: $(head -1 <<<"$out")"
fi
labels=$(cut -d' ' -f2 "$tmp/labels.txt" 2>/dev/null)
correct=$(paste -d' ' <(echo "$labels") <(echo "$predicted") | awk '$1 == $2 { n++ } END { print n + 0 }')
if [ "$correct" -ge 18 ]; then ok; else bad "predict: $correct of 20 right (want >= 18)"; fi

out_inv=$(timeout 120 "$bin" predict --model "$tmp/m.h5" "${inverted[@]}" 2>&1)
rc=$?
predicted_inv=$(digits_of <<<"$out_inv")
if [ "$rc" -eq 0 ] && [ "$predicted_inv" = "$predicted" ]; then ok; else
  bad "inverted copies -> exit $rc, digits $(echo $predicted_inv) (want $(echo $predicted))"
fi

# ---- a corrupt picture among good ones ---------------------------------------------
head -c 100 "$tmp/digit00.png" >"$tmp/corrupt.png"
echo "not a picture" >"$tmp/notes.txt"
out=$(timeout 120 "$bin" predict --model "$tmp/m.h5" "$tmp/digit01.png" "$tmp/corrupt.png" "$tmp/notes.txt" \
  "$tmp/digit02.png" 2>&1)
rc=$?
if [ "$rc" -eq 2 ] && grep -q "corrupt.png" <<<"$out" && grep -q "notes.txt" <<<"$out" &&
   [ "$(digits_of <<<"$out" | wc -l)" -eq 2 ]; then
  ok
else
  bad "predict with a corrupt PNG -> exit $rc (want 2, both bad files named, 2 answers):"
  echo "$out" | head -6 | sed 's/^/    /'
fi

# A missing model file is bad input: exit 2 naming it.
out=$(timeout 60 "$bin" predict --model "$tmp/none.h5" "$tmp/digit00.png" 2>&1)
rc=$?
if [ "$rc" -eq 2 ] && grep -q "none.h5" <<<"$out"; then ok; else bad "missing model -> exit $rc: $out"; fi

# ---- evaluate: 1 rank and 2 ranks agree ---------------------------------------------
mpi_flags=(--oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi_flags+=(--allow-run-as-root)
out1=$(timeout 300 "$bin" evaluate --model "$tmp/m.h5" --data-dir "$data" --test-limit 1000 \
  --report "$tmp/eval.json" 2>&1)
rc1=$?
out2=$(timeout 300 "$mpiexec" -np 2 "${mpi_flags[@]}" "$bin" evaluate --model "$tmp/m.h5" --data-dir "$data" \
  --test-limit 1000 2>&1)
rc2=$?
line1=$(grep "^Test loss: .* - test accuracy: .* (1000 images)$" <<<"$out1")
line2=$(grep "^Test loss: .* - test accuracy: .* (1000 images)$" <<<"$out2")
if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] && [ -n "$line1" ] && [ "$line1" = "$line2" ]; then ok; else
  bad "evaluate: 1 rank (exit $rc1) '$line1' vs 2 ranks (exit $rc2) '$line2'"
  echo "$out2" | tail -5 | sed 's/^/    /'
fi
# The same line as train printed for the same model and test set.
if [ -n "$line1" ] && grep -qxF "$line1" "$tmp/train.log"; then ok; else
  bad "evaluate's '$line1' differs from train's '$(grep '^Test loss' "$tmp/train.log")'"
fi
if grep -q "Confusion matrix" <<<"$out1" && grep -q "macro avg" <<<"$out1" &&
   python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["command"]=="evaluate" and r["test"]["count"]==1000 and len(r["test"]["confusion_matrix"])==10 and r["world_size"]==1' "$tmp/eval.json"; then
  ok
else
  bad "evaluate: confusion matrix, report or JSON report missing"
fi

# Corrupt and truncated model files, for evaluate (under 2 ranks: every rank must
# stop) and for predict: exit 2 with the file named.
head -c 4000 "$tmp/m.h5" >"$tmp/truncated.h5"
cp "$tmp/labels.txt" "$tmp/text.h5"
for model in "$tmp/truncated.h5" "$tmp/text.h5"; do
  name=$(basename "$model")
  out=$(timeout 60 "$mpiexec" -np 2 "${mpi_flags[@]}" "$bin" evaluate --model "$model" --data-dir "$data" 2>&1)
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "$name" <<<"$out"; then ok; else bad "evaluate --model $name -> exit $rc: $(tail -2 <<<"$out")"; fi
  out=$(timeout 60 "$bin" predict --model "$model" "$tmp/digit00.png" 2>&1)
  rc=$?
  if [ "$rc" -eq 2 ] && grep -q "$name" <<<"$out"; then ok; else bad "predict --model $name -> exit $rc: $(tail -2 <<<"$out")"; fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

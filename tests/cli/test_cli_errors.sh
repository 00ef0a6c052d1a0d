#!/usr/bin/env bash
# test_cli_errors.sh BIN DATA_DIR — the program's own answers to bad input:
# each case must exit with the expected code, quickly, and print a message
# naming the option or file. Prints "N passed, N failed".
set -u
bin=$1
data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

expect() {  # expect CODE PATTERN -- ARGS...
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$(timeout 60 "$bin" "$@" 2>&1)
  rc=$?
  if [ "$rc" -eq "$code" ] && grep -qE -- "$pattern" <<<"$out"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: mnist_ddp $* -> exit $rc (want $code), output lacks /$pattern/:"
    echo "$out" | head -5 | sed 's/^/    /'
  fi
}

expect 0 "--batch-size" -- --help
expect 0 "mnist_ddp [0-9]" -- --version
expect 2 "unrecognised option '--bogus'" -- --bogus
expect 2 "--epochs" -- --epochs 0
expect 2 "--epochs.*abc" -- --epochs abc
expect 2 "--batch-size" -- --batch-size -5
expect 2 "--optimizer.*adamw" -- --optimizer adamw
expect 2 "--val-split" -- --val-split 1.5
expect 2 "--lr" -- --lr -1
expect 2 "--device.*cuda" -- --device cuda --data-dir "$data"
expect 2 "does not exist" -- --data-dir "$tmp/nowhere"
mkdir -p "$tmp/empty"
expect 2 "train-images-idx3-ubyte" -- --data-dir "$tmp/empty"
# A truncated image file: the error names the file.
mkdir -p "$tmp/bad"
for f in train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do ln -s "$data/$f" "$tmp/bad/$f"; done
head -c 1000 "$data/train-images-idx3-ubyte" >"$tmp/bad/train-images-idx3-ubyte"
expect 2 "train-images-idx3-ubyte.*(truncated|needs)" -- --data-dir "$tmp/bad"
expect 2 "--batch-size 4096 is larger" -- --data-dir "$data" --train-limit 1000 --batch-size 4096
# Outputs that cannot be written are refused before any training.
expect 2 "--output: cannot write '$tmp/no/such/dir/m.h5'" -- --data-dir "$data" --output "$tmp/no/such/dir/m.h5"
expect 2 "--report: cannot write" -- --data-dir "$data" --output "$tmp/m.h5" --report "$tmp/no/r.json"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

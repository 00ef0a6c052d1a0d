#!/usr/bin/env bash
# test_cli_errors.sh BIN DATA_DIR — the program's own answers to bad input:
# each case must exit with the expected code within 60 s (a hang is a failure)
# and print the expected message, which names the option or file. Covered:
# nonsense options and commands; a missing data directory or file; IDX files
# truncated, with a bad magic, an unsupported type, the wrong dimensions, counts
# that disagree, a label out of range, a damaged or truncated gzip stream; model
# files that are not HDF5, truncated, with a flipped metadata bit, with NaN
# weights or another architecture; Keras 3 .keras files that are not zip
# archives, cut short, damaged (CRC), foreign, compressed with another method or
# of another architecture; checkpoints damaged or with an impossible
# training state. (The readers are also fuzzed: tests/fuzz.) Prints "N passed, N failed".
set -u
bin=$1
data=$(cd "$2" && pwd)  # absolute: the cases link to its files from elsewhere
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

# ---- more nonsense options --------------------------------------------------------
expect 2 "unknown command 'frobnicate'" -- frobnicate
expect 2 "predict: give at least one image file" -- predict
expect 2 "--threads: must be a non-negative integer, got '-1'" -- --threads -1
expect 2 "--train-limit: must be a non-negative integer, got '-5'" -- --train-limit -5
expect 2 "--checkpoint-every: must be a positive integer, got '0'" -- --checkpoint-every 0
expect 2 "--seed: expected a non-negative integer, got 'abc'" -- --seed abc
expect 2 "--epochs: value '99999999999999999999' is out of range" -- --epochs 99999999999999999999
expect 2 "--lr: expected a finite number, got 'nan'" -- --lr nan
expect 2 "--lr: expected a finite number, got 'inf'" -- --lr inf
expect 2 "--data-dir: must not be empty" -- --data-dir ""
expect 2 "'$data/train-images-idx3-ubyte' is not a directory" -- --data-dir "$data/train-images-idx3-ubyte"

# ---- malformed IDX files: each in a copy of the data directory whose other files
# are links to the good ones. The short runs never reach training.
names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
datadir() {  # datadir NAME FILE: $tmp/NAME with links to the good files, FILE copied (to damage it)
  local d="$tmp/$1" f
  mkdir -p "$d"
  for f in "${names[@]}"; do ln -sf "$data/$f" "$d/$f"; done
  rm -f "$d/$2"
  cp "$data/$2" "$d/$2"
  chmod u+w "$d/$2"
}
poke() {  # poke FILE OFFSET BYTE(hex): overwrite one byte
  printf "\\x$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
quick=(--train-limit 1000 --test-limit 500 --epochs 1 --threads 1 --progress none --output "$tmp/never.h5")

datadir magic train-labels-idx1-ubyte
poke "$tmp/magic/train-labels-idx1-ubyte" 1 01
expect 2 "train-labels-idx1-ubyte: bad magic: the first two bytes are 0x00 0x01" -- --data-dir "$tmp/magic" "${quick[@]}"

datadir type t10k-images-idx3-ubyte
poke "$tmp/type/t10k-images-idx3-ubyte" 2 0d
expect 2 "t10k-images-idx3-ubyte: unsupported element type 0x0D \\(float\\)" -- --data-dir "$tmp/type" "${quick[@]}"

datadir dims train-labels-idx1-ubyte
poke "$tmp/dims/train-labels-idx1-ubyte" 3 02  # 2-D, with a header now 4 bytes short
expect 2 "train-labels-idx1-ubyte: (truncated|trailing bytes|a label file must have 1 dimension)" -- --data-dir "$tmp/dims" "${quick[@]}"
# A consistent 2-D label file (10000 x 1): the shape itself is refused.
datadir dims2 t10k-labels-idx1-ubyte
{ printf '\x00\x00\x08\x02\x00\x00\x27\x10\x00\x00\x00\x01'; tail -c 10000 "$data/t10k-labels-idx1-ubyte"; } >"$tmp/dims2/t10k-labels-idx1-ubyte"
expect 2 "t10k-labels-idx1-ubyte: a label file must have 1 dimension \\(count\\) but this one has 2 \\(10000 x 1\\)" -- --data-dir "$tmp/dims2" "${quick[@]}"

datadir size t10k-images-idx3-ubyte  # 10000 images of 1 x 784: right bytes, wrong shape
{ printf '\x00\x00\x08\x03\x00\x00\x27\x10\x00\x00\x00\x01\x00\x00\x03\x10'; tail -c 7840000 "$data/t10k-images-idx3-ubyte"; } >"$tmp/size/t10k-images-idx3-ubyte"
expect 2 "t10k-images-idx3-ubyte: images are 1 x 784 but MNIST images are 28 x 28" -- --data-dir "$tmp/size" "${quick[@]}"

datadir count t10k-labels-idx1-ubyte  # 9999 labels for 10000 images
{ printf '\x00\x00\x08\x01\x00\x00\x27\x0f'; tail -c 10000 "$data/t10k-labels-idx1-ubyte" | head -c 9999; } >"$tmp/count/t10k-labels-idx1-ubyte"
expect 2 "t10k-images-idx3-ubyte has 10000 images but .*t10k-labels-idx1-ubyte has 9999 labels" -- --data-dir "$tmp/count" "${quick[@]}"

datadir label train-labels-idx1-ubyte
poke "$tmp/label/train-labels-idx1-ubyte" 1007 0a  # label 999 becomes 10
expect 2 "train-labels-idx1-ubyte: label 999 is 10; labels must be 0..9" -- --data-dir "$tmp/label" "${quick[@]}"

datadir trailing t10k-labels-idx1-ubyte
printf '\x00' >>"$tmp/trailing/t10k-labels-idx1-ubyte"
expect 2 "t10k-labels-idx1-ubyte: trailing bytes: file is 10009 bytes but the header \\(10000, unsigned byte\\) needs 10008" -- --data-dir "$tmp/trailing" "${quick[@]}"

# gzip: a truncated stream, and a damaged one (a flipped byte mid-stream fails
# the stream or its CRC), each under the .gz name the loader also accepts.
mkdir -p "$tmp/gz"
for f in "${names[@]}"; do ln -sf "$data/$f" "$tmp/gz/$f"; done
rm "$tmp/gz/t10k-labels-idx1-ubyte"
gzip -c "$data/t10k-labels-idx1-ubyte" >"$tmp/t10k-labels.gz"
head -c 2000 "$tmp/t10k-labels.gz" >"$tmp/gz/t10k-labels-idx1-ubyte.gz"
expect 2 "t10k-labels-idx1-ubyte.gz: truncated gzip stream" -- --data-dir "$tmp/gz" "${quick[@]}"
cp "$tmp/t10k-labels.gz" "$tmp/gz/t10k-labels-idx1-ubyte.gz"
poke "$tmp/gz/t10k-labels-idx1-ubyte.gz" 1000 ff
poke "$tmp/gz/t10k-labels-idx1-ubyte.gz" 1001 00
expect 2 "t10k-labels-idx1-ubyte.gz: corrupt gzip stream" -- --data-dir "$tmp/gz" "${quick[@]}"
printf 'not gzip at all' >"$tmp/gz/t10k-labels-idx1-ubyte.gz"
expect 2 "t10k-labels-idx1-ubyte.gz: bad magic" -- --data-dir "$tmp/gz" "${quick[@]}"

# ---- model and checkpoint files ---------------------------------------------------
# One short training run makes a good model and checkpoint to damage.
small=(--data-dir "$data" --train-limit 600 --test-limit 200 --batch-size 32 --threads 1 --progress none
       --precise-bn 0)
if ! timeout 300 "$bin" "${small[@]}" --epochs 1 --output "$tmp/good.h5" --checkpoint "$tmp/ck.h5" >"$tmp/train.log" 2>&1; then
  fail=$((fail + 1))
  echo "FAIL: the short training run for the model-file cases failed:"
  tail -5 "$tmp/train.log" | sed 's/^/    /'
else
  head -c 4096 /dev/urandom >"$tmp/random.h5"
  expect 2 "$tmp/random.h5: not an HDF5 file" -- evaluate --data-dir "$data" --model "$tmp/random.h5"
  echo "weights" >"$tmp/notes.txt"
  expect 2 "$tmp/notes.txt: not an HDF5 file" -- predict --model "$tmp/notes.txt" "$tmp/notes.txt"
  size=$(stat -c %s "$tmp/good.h5")
  head -c $((size / 2)) "$tmp/good.h5" >"$tmp/half.h5"
  expect 2 "$tmp/half.h5: damaged or truncated HDF5 file" -- evaluate --data-dir "$data" --model "$tmp/half.h5"
  head -c $((size - 1)) "$tmp/good.h5" >"$tmp/short.h5"
  expect 2 "$tmp/short.h5: damaged or truncated HDF5 file" -- evaluate --data-dir "$data" --model "$tmp/short.h5"
  cp "$tmp/good.h5" "$tmp/flipped.h5"
  poke "$tmp/flipped.h5" 36 ff  # the root group's address, under the superblock checksum
  expect 2 "$tmp/flipped.h5: damaged or truncated HDF5 file" -- evaluate --data-dir "$data" --model "$tmp/flipped.h5"
  expect 2 "$tmp/missing.h5: cannot open: No such file" -- evaluate --data-dir "$data" --model "$tmp/missing.h5"
  expect 2 "$tmp: is a directory, not a model file" -- evaluate --data-dir "$data" --model "$tmp"
  # Keras 3 .keras files (a second short run writes one).
  if timeout 300 "$bin" "${small[@]}" --epochs 1 --output "$tmp/good.keras" >"$tmp/train-keras.log" 2>&1; then
    cp "$tmp/good.h5" "$tmp/h5.keras"
    expect 2 "$tmp/h5.keras: not a zip archive" -- evaluate --data-dir "$data" --model "$tmp/h5.keras"
    ksize=$(stat -c %s "$tmp/good.keras")
    head -c $((ksize / 2)) "$tmp/good.keras" >"$tmp/half.keras"
    expect 2 "$tmp/half.keras: not a zip archive \\(no end-of-central-directory record\\)" -- evaluate --data-dir "$data" --model "$tmp/half.keras"
    cp "$tmp/good.keras" "$tmp/flipped.keras"
    poke "$tmp/flipped.keras" $((ksize / 2)) 5a  # inside model.weights.h5's data
    expect 2 "$tmp/flipped.keras: entry 'model.weights.h5': CRC-32 mismatch \\(damaged file\\)" -- evaluate --data-dir "$data" --model "$tmp/flipped.keras"
    expect 2 "$tmp/missing.keras: cannot open: No such file" -- evaluate --data-dir "$data" --model "$tmp/missing.keras"
  else
    fail=$((fail + 1))
    echo "FAIL: the short training run writing a .keras file failed:"
    tail -5 "$tmp/train-keras.log" | sed 's/^/    /'
  fi
  cp "$tmp/ck.h5" "$tmp/ck-flipped.h5"
  poke "$tmp/ck-flipped.h5" 36 ff
  expect 2 "$tmp/ck-flipped.h5: damaged or truncated HDF5 file" -- "${small[@]}" --epochs 2 --resume "$tmp/ck-flipped.h5" --output "$tmp/x.h5"
  # Edits that keep the file valid HDF5 need h5py (Debian's python3-h5py).
  py=""
  for candidate in /usr/bin/python3 python3; do
    if [ -z "$py" ] && "$candidate" -c "import h5py, numpy" 2>/dev/null; then py=$candidate; fi
  done
  if [ -n "$py" ]; then
    "$py" "$(dirname "${BASH_SOURCE[0]}")/../python/h5_tools.py" damaged-copies "$tmp"
    expect 2 "$tmp/nan.h5: layer 'dense' bias holds NaN or infinite values" -- evaluate --data-dir "$data" --model "$tmp/nan.h5"
    expect 2 "$tmp/narrow.h5: layer 'conv2d' has kernel of shape \\(3,3,1,16\\), this program's model needs \\(3,3,1,32\\)" -- evaluate --data-dir "$data" --model "$tmp/narrow.h5"
    expect 2 "$tmp/ck-state.h5: malformed training state: epochs_done is -3" -- "${small[@]}" --epochs 2 --resume "$tmp/ck-state.h5" --output "$tmp/x.h5"
    if [ -s "$tmp/good.keras" ]; then
      "$py" "$(dirname "${BASH_SOURCE[0]}")/../python/h5_tools.py" keras-copies "$tmp"
      expect 2 "$tmp/foreign.keras: no metadata.json in the archive \\(not a Keras 3 .keras file\\)" -- evaluate --data-dir "$data" --model "$tmp/foreign.keras"
      expect 2 "$tmp/bzip2.keras: entry '[a-z.]+' uses compression method 12 \\(only stored and deflated entries are read\\)" -- evaluate --data-dir "$data" --model "$tmp/bzip2.keras"
      expect 2 "$tmp/otherlayer.keras: config.json layer 1 is Dense 'conv2d', this program's model has Conv2D 'conv2d'" -- predict --model "$tmp/otherlayer.keras" "$tmp/notes.txt"
    fi
  else
    echo "note: no python3 with h5py: the model-file edits that need it were not run"
  fi
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

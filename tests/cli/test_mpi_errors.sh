#!/usr/bin/env bash
# test_mpi_errors.sh BIN DATA_DIR MPIEXEC — the program under `mpirun -np 2` and `-np 3`.
#
# A usage or input error must end the whole job — never leave one rank waiting
# in a collective for a rank that has already given up — with a non-zero exit,
# quickly, and a usage message printed once (rank 0 only), not once per rank.
# A short real run must succeed and confirm that the ranks ended with bitwise
# identical weights. Bad input found by every rank alike (a malformed IDX file,
# a damaged model or checkpoint, a nonsense option) ends every rank within
# seconds with exit 2 through a normal MPI_Finalize: the message once (rank 0),
# no MPI_ABORT banner. (Bad input on some ranks only, which does abort, needs
# ranks that see different files: tests/cluster/test_cluster.sh, check 3.) Each case runs under `timeout`, so a
# hang is a failure, not a stuck test. Prints "N passed, N failed".
set -u
bin=$1
data=$2
mpiexec=${3:-mpirun}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# Oversubscribed and unbound (CI has 2 cores); root needs Open MPI's consent.
mpi=("$mpiexec" -np 2 --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
mpi3=("${mpi[@]}")
mpi3[2]=3

ok() { pass=$((pass + 1)); }
bad() {  # bad WHAT OUTPUT
  fail=$((fail + 1))
  echo "FAIL: $1"
  echo "$2" | tail -15 | sed 's/^/    /'
}

run() {  # run SECONDS ARGS... — sets out, rc, secs
  local limit=$1
  shift
  local t0=$SECONDS
  out=$(timeout "$limit" "${mpi[@]}" "$bin" "$@" 2>&1)
  rc=$?
  secs=$((SECONDS - t0))
}
run3() {  # the same with 3 ranks
  local limit=$1
  shift
  local t0=$SECONDS
  out=$(timeout "$limit" "${mpi3[@]}" "$bin" "$@" 2>&1)
  rc=$?
  secs=$((SECONDS - t0))
}
# expect_error WHAT PATTERN: the last run ended with exit 2, not by timeout
# (124), within 30 s, with PATTERN in its output once and no MPI_ABORT banner.
expect_error() {
  local n
  n=$(grep -cE -- "$2" <<<"$out")
  if [ "$rc" -eq 2 ] && [ "$secs" -le 30 ] && [ "$n" -eq 1 ] && ! grep -q MPI_ABORT <<<"$out"; then ok; else
    bad "$1: exit $rc (want 2; 124 is a hang), ${secs}s (want <= 30), /$2/ $n times (want 1), or MPI_ABORT" "$out"
  fi
}

# (a) A bad option: every rank parses the same argv and exits 2; rank 0 alone prints.
run 30 --bogus
n=$(grep -c "unrecognised option '--bogus'" <<<"$out")
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$n" -eq 1 ]; then ok; else
  bad "bad option: exit $rc (want non-zero, no timeout), message printed $n times (want 1), ${secs}s" "$out"
fi

# (b) A missing data directory: the job ends, non-zero, well within 30 s.
run 30 --data-dir "$tmp/nowhere" --threads 1
expect_error "missing data dir" "does not exist"

# (c) A short real 2-rank run.
run 240 --data-dir "$data" --train-limit 600 --test-limit 500 --epochs 1 --batch-size 16 \
  --progress epoch --threads 1 --report "$tmp/report.json" --output "$tmp/m.h5" --checkpoint "$tmp/ck.h5"
if [ "$rc" -eq 0 ] && grep -q "bitwise identical on all 2 ranks" <<<"$out" &&
  grep -q "(500 images)" <<<"$out" && grep -q '"world_size": 2' "$tmp/report.json"; then ok; else
  bad "2-rank run: exit $rc, ${secs}s, or lacks 'bitwise identical on all 2 ranks' / '(500 images)' / report" "$out"
fi

# (d) Bad input on every rank, 3 ranks: a malformed IDX file and a nonsense option.
mkdir -p "$tmp/bad"
for f in train-images-idx3-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do ln -s "$data/$f" "$tmp/bad/$f"; done
cp "$data/train-labels-idx1-ubyte" "$tmp/bad/"
chmod u+w "$tmp/bad/train-labels-idx1-ubyte"
printf 'PK' | dd of="$tmp/bad/train-labels-idx1-ubyte" bs=1 conv=notrunc status=none
run3 60 --data-dir "$tmp/bad" --threads 1 --output "$tmp/never.h5"
expect_error "3 ranks, bad magic" "train-labels-idx1-ubyte: bad magic"
run3 60 --data-dir "$data" --threads 1 --batch-size -5
expect_error "3 ranks, --batch-size -5" "--batch-size"

# (e) A damaged model file under evaluate, and a damaged checkpoint under --resume.
if [ -f "$tmp/m.h5" ] && [ -f "$tmp/ck.h5" ]; then
  head -c $(($(stat -c %s "$tmp/m.h5") / 2)) "$tmp/m.h5" >"$tmp/half.h5"
  run 60 evaluate --data-dir "$data" --test-limit 500 --threads 1 --model "$tmp/half.h5"
  expect_error "2 ranks, evaluate a truncated model" "half.h5: damaged or truncated HDF5 file"
  run3 60 evaluate --data-dir "$data" --test-limit 500 --threads 1 --model "$tmp/half.h5"
  expect_error "3 ranks, evaluate a truncated model" "half.h5: damaged or truncated HDF5 file"
  cp "$tmp/ck.h5" "$tmp/ck-flipped.h5"
  printf '\xff' | dd of="$tmp/ck-flipped.h5" bs=1 seek=36 conv=notrunc status=none
  run 60 --data-dir "$data" --train-limit 600 --test-limit 500 --epochs 2 --batch-size 16 --threads 1 \
    --output "$tmp/never.h5" --resume "$tmp/ck-flipped.h5"
  expect_error "2 ranks, resume from a damaged checkpoint" "ck-flipped.h5: damaged or truncated HDF5 file"
else
  bad "the 2-rank run wrote no model or checkpoint to damage" "$(ls -l "$tmp")"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

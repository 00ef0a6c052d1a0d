#!/usr/bin/env bash
# test_mpi_errors.sh BIN DATA_DIR MPIEXEC — the program under `mpirun -np 2`.
#
# A usage or input error must end the whole job — never leave one rank waiting
# in a collective for a rank that has already given up — with a non-zero exit,
# quickly, and a usage message printed once (rank 0 only), not once per rank.
# A short real run must succeed and confirm that the ranks ended with bitwise
# identical weights. Each case runs under `timeout`, so a hang is a failure,
# not a stuck test. Prints "N passed, N failed".
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

# (a) A bad option: every rank parses the same argv and exits 2; rank 0 alone prints.
run 30 --bogus
n=$(grep -c "unrecognised option '--bogus'" <<<"$out")
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$n" -eq 1 ]; then ok; else
  bad "bad option: exit $rc (want non-zero, no timeout), message printed $n times (want 1), ${secs}s" "$out"
fi

# (b) A missing data directory: the job ends, non-zero, well within 30 s.
run 30 --data-dir "$tmp/nowhere" --threads 1
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "does not exist" <<<"$out"; then ok; else
  bad "missing data dir: exit $rc (want non-zero; 124 is a hang), ${secs}s" "$out"
fi

# (c) A short real 2-rank run.
run 240 --data-dir "$data" --train-limit 600 --test-limit 500 --epochs 1 --batch-size 16 \
  --progress epoch --threads 1 --report "$tmp/report.json"
if [ "$rc" -eq 0 ] && grep -q "bitwise identical on all 2 ranks" <<<"$out" &&
  grep -q "(500 images)" <<<"$out" && grep -q '"world_size": 2' "$tmp/report.json"; then ok; else
  bad "2-rank run: exit $rc, ${secs}s, or lacks 'bitwise identical on all 2 ranks' / '(500 images)' / report" "$out"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

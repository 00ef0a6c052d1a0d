#!/usr/bin/env bash
# test_scaling.sh — scripts/scaling.sh on a tiny sweep (weak and strong, 1 and 2
# ranks, 3 steps of 8 images): the CSV has exactly the documented columns, one
# row per run with the right shape and positive measurements; bad arguments exit 2.
#   test_scaling.sh SCALING_SH MNIST_DDP DATA_DIR
set -euo pipefail
script=$1 bin=$2 data=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python=/usr/bin/python3
[ -x "$python" ] || python=python3
fail() { echo "FAIL: $*" >&2; exit 1; }

"$script" --bin "$bin" --data-dir "$data" --mode both --ranks "1 2" --steps 3 --batch 8 \
  --out "$tmp/s.csv" --keep-reports "$tmp/reports" || fail "the sweep exited $?"
[ -s "$tmp/s.log" ] || fail "no log next to the CSV"
[ -f "$tmp/reports/weak_np2.json" ] || fail "--keep-reports kept no report"

"$python" - "$tmp/s.csv" <<'PY' || exit 1
import csv, sys
expected = ("mode,ranks,devices,threads_per_rank,batch_per_rank,global_batch,steps,images_per_second,speedup,"
            "efficiency,compute_s,communication_s,data_s,step_ms").split(",")
with open(sys.argv[1]) as f:
    reader = csv.DictReader(f)
    assert reader.fieldnames == expected, f"columns {reader.fieldnames}"
    rows = list(reader)
shape = [(r["mode"], int(r["ranks"]), int(r["batch_per_rank"]), int(r["global_batch"])) for r in rows]
assert shape == [("weak", 1, 8, 8), ("weak", 2, 8, 16), ("strong", 1, 8, 8), ("strong", 2, 4, 8)], shape
for r in rows:
    assert int(r["steps"]) == 3, r
    assert int(r["threads_per_rank"]) == 1 and int(r["devices"]) == int(r["ranks"]), r
    for k in ("images_per_second", "speedup", "efficiency", "compute_s", "step_ms"):
        assert float(r[k]) > 0, (k, r)
    for k in ("communication_s", "data_s"):
        assert float(r[k]) >= 0, (k, r)
    p = int(r["ranks"])
    assert abs(float(r["efficiency"]) - float(r["speedup"]) / p) < 1e-3, r
    # step_ms is the global batch over the throughput
    assert abs(float(r["step_ms"]) - 1000 * int(r["global_batch"]) / float(r["images_per_second"])) < 0.01 * float(r["step_ms"]), r
    if p == 1:
        assert float(r["speedup"]) == 1.0 and float(r["communication_s"]) == 0.0, r
    else:
        assert float(r["communication_s"]) > 0, ("two ranks must all-reduce", r)
print("scaling CSV ok:", len(rows), "rows")
PY

expect_usage() {
  local rc=0
  "$script" --bin "$bin" --data-dir "$data" --out "$tmp/bad.csv" "$@" >/dev/null 2>"$tmp/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "scaling.sh $* exited $rc, expected 2"
  [ -s "$tmp/err" ] || fail "scaling.sh $* gave no message"
}
expect_usage --mode sideways
expect_usage --mode strong --ranks "1 2" --batch 3          # 3 images cannot be split over 2 ranks
expect_usage --mode weak --ranks "1" --steps 1000 --batch 64 # 64 000 images > 60 000
expect_usage --steps 0
expect_usage --no-such-option
[ ! -e "$tmp/bad.csv" ] || fail "a refused sweep wrote a CSV"
echo "PASS"

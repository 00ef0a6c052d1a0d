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

"$python" "$(dirname "${BASH_SOURCE[0]}")/check_scaling_csv.py" "$tmp/s.csv" || exit 1

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

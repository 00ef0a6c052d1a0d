#!/usr/bin/env bash
# test_ddp_scaling.sh — scripts/ddp_scaling.sh on a tiny table (1 and 2 ranks,
# 2 epochs of 540 images): one row per configuration (1 rank once; none,
# linear and sqrt on 2), the scale factors of the rules, accuracies in [0, 1],
# the markdown table and the commands written; a bad argument exits 2.
#   test_ddp_scaling.sh DDP_SCALING_SH MNIST_DDP DATA_DIR
set -euo pipefail
script=$1 bin=$2 data=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$script" --bin "$bin" --data-dir "$data" --ranks "1 2" --epochs 2 --train-limit 600 --test-limit 200 --batch 32 --out "$tmp/t" \
  >"$tmp/log" 2>&1 || { tail -5 "$tmp/log"; fail "the table script exited non-zero"; }
[ -s "$tmp/t/table.md" ] || fail "no table.md"
[ "$(wc -l <"$tmp/t/commands.txt")" -eq 8 ] || fail "want 8 commands (4 configurations x 2 runs)"
/usr/bin/python3 - "$tmp/t/table.csv" <<'PY'
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1])))
got = [(r["ranks"], r["lr_scaling"], r["warmup_epochs"], float(r["lr_scale"])) for r in rows]
want = [("1", "none", "0", 1.0), ("2", "none", "0", 1.0), ("2", "linear", "1", 2.0), ("2", "sqrt", "1", math.sqrt(2))]
if len(got) != len(want) or any(g[:3] != w[:3] or abs(g[3] - w[3]) > 1e-12 for g, w in zip(got, want)):
    sys.exit("FAIL: rows %s, want %s" % (got, want))
for r in rows:
    for k in ("test_accuracy_epoch1", "test_accuracy_epoch2"):
        if not 0.0 <= float(r[k]) <= 1.0:
            sys.exit("FAIL: %s = %s" % (k, r[k]))
PY
rc=0
"$script" --bin "$bin" --bogus 1 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "an unknown argument exited $rc, want 2"
echo "ddp_scaling table: ok"

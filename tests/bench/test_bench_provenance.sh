#!/usr/bin/env bash
# test_bench_provenance.sh — scripts/bench.sh names the tree its figures come from
# truthfully: machine.txt's "git:" line says "(with local changes)" when a tracked
# file differs from HEAD, and not merely because this run rewrote its own output
# (results/bench/ is tracked); its "cpu:" line names the family, model and vector ISA.
# Runs bench.sh on one tiny row in a clone of the source tree (77: not a git checkout).
#   test_bench_provenance.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || { echo "SKIP: $src is not a git checkout"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
repo=$tmp/repo
git clone -q "$src" "$repo"
# The bench.sh under test (the source tree's, which may be newer than its last commit).
cp "$src/scripts/bench.sh" "$repo/scripts/bench.sh"
git -C "$repo" -c user.name=test -c user.email=test@localhost commit -q -am "bench.sh under test" --allow-empty
head=$(git -C "$repo" rev-parse --short HEAD)

bench() {
  "$repo/scripts/bench.sh" --no-build --build-dir "$build" --filter 'BM_Augment/64' --min-time 0.01 \
    --torch-rounds 0 --ranks 1 --out "$repo/results/bench" >"$tmp/bench.log" 2>&1 \
    || { cat "$tmp/bench.log"; echo "FAIL: bench.sh exited non-zero"; exit 1; }
}
expect_line() {  # expect_line REGEX: a line of machine.txt matches
  grep -Eq "$1" "$repo/results/bench/machine.txt" \
    || { cat "$repo/results/bench/machine.txt"; echo "FAIL: machine.txt has no line matching '$1'"; exit 1; }
}

bench  # rewrites the tracked results/bench/ files: still the clean tree
! git -C "$repo" diff --quiet -- results/bench || { echo "FAIL: the run left results/bench/ as committed"; exit 1; }
expect_line "^git: $head\$"
expect_line '^cpu: .*\(family [0-9]+, model [0-9]+; (no avx2|avx2, no avx512|avx512f.*)\)$'

echo "# a local change" >>"$repo/README.md"
bench
expect_line "^git: $head \(with local changes\)\$"
echo "PASS: machine.txt names HEAD, its local changes only when there are some, and the CPU's family, model and ISA"

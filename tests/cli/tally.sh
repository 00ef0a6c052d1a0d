# tally.sh — sourced by the CLI test scripts: a temporary directory $tmp
# (removed on exit) and the pass/fail count, printed by `tally`, whose status
# is the script's result.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL: $*"; }
tally() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}

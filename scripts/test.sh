#!/usr/bin/env bash
# test.sh — the test command: set up the machine (packages, data), build, run ctest.
#   scripts/test.sh [ctest arguments...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cd "${BUILD_DIR:-$root/build}"
ctest --output-on-failure --timeout 900 "$@"

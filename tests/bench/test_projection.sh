#!/usr/bin/env bash
# test_projection.sh — scripts/projection.py: its all-reduce and compute models
# (test_projection.py), then a run on a small sweep CSV that must write the two
# PNGs, projection.csv and scaling.md. Skipped (77) without a python3 that has
# numpy and matplotlib.
#   test_projection.sh PROJECTION_PY
set -euo pipefail
projection=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=""
for candidate in /usr/bin/python3 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import numpy, matplotlib" 2>/dev/null; then
    python=$candidate
    break
  fi
done
[ -n "$python" ] || { echo "SKIP: no python3 with numpy and matplotlib"; exit 77; }
exec "$python" "$here/test_projection.py" "$projection"

#!/usr/bin/env python3
"""check_structure.py — holds the code base to two structural rules of the project.

1. Layering: a folder of src/ and include/mnist_ddp/ includes only itself and the
   folders below it, so the lower parts can be read, tested and reused without the
   higher ones (no cli/ include from core/, nn/, cpu/, data/, train/ or io/):

       core < data < nn < dist < train < cpu, cuda < io < cli < app < main.cpp

   cpu/ and cuda/ are siblings on one level and never include each other.
2. Short functions: no function in src/ longer than MAX_LINES lines (from its
   signature to its closing brace, as universal-ctags reports them).

Usage: check_structure.py ROOT   (exit 0: both hold; 1: every violation listed)
"""
import re
import subprocess
import sys
from pathlib import Path

MAX_LINES = 80
LEVELS = {"core": 0, "data": 1, "nn": 2, "dist": 3, "train": 4, "cpu": 5, "cuda": 5,
          "io": 6, "cli": 7, "app": 8}
INCLUDE = re.compile(r'^\s*#\s*include\s+"mnist_ddp/([a-z_]+)/')
SOURCES = ("*.hpp", "*.cpp", "*.cu", "*.cuh")


def folder_of(path: Path, root: Path) -> str:
    rel = path.relative_to(root).parts
    if rel[0] == "src":
        return rel[1] if len(rel) > 2 else "main"
    return rel[2]  # include/mnist_ddp/<folder>/...


def layering_violations(root: Path):
    files = [p for d in ("src", "include/mnist_ddp") for g in SOURCES for p in (root / d).rglob(g)]
    for path in sorted(files):
        here = folder_of(path, root)
        level = LEVELS.get(here, len(LEVELS))
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m or m.group(1) == here:
                continue
            there = m.group(1)
            if there not in LEVELS:
                yield f"{path.relative_to(root)}:{number}: includes unknown folder {there}/"
            elif LEVELS[there] >= level:
                yield (f"{path.relative_to(root)}:{number}: {here}/ includes {there}/ "
                       f"(a {'sibling' if LEVELS[there] == level else 'higher'} folder)")


def long_functions(root: Path):
    cmd = ["ctags", "-R", "--languages=C++", "--langmap=C++:+.cu", "--kinds-C++=f",
           "--fields=+ne", "-o", "-", str(root / "src")]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for row in out.splitlines():
        cols = row.split("\t")
        fields = dict(c.split(":", 1) for c in cols[3:] if ":" in c)
        if "line" not in fields or "end" not in fields:
            continue
        length = int(fields["end"]) - int(fields["line"]) + 1
        if length > MAX_LINES:
            rel = Path(cols[1]).relative_to(root)
            yield f"{rel}:{fields['line']}: {cols[0]} is {length} lines (at most {MAX_LINES})"


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    problems = list(layering_violations(root)) + list(long_functions(root))
    for p in problems:
        print(p)
    print(f"structure: {len(problems)} violation(s)" if problems else
          "structure: layering holds, no function over %d lines" % MAX_LINES)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

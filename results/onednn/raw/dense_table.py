#!/usr/bin/env python3
"""dense_table.py DIR — the Markdown table of dense_ab.sh's runs: per row and thread count, the
wall and CPU times of A (OpenBLAS) and B (oneDNN inner product), their medians and B/A per pair."""
import glob, json, os, re, statistics, sys

d = sys.argv[1]
runs = {}  # (label, threads, pair) -> {row: (real, cpu, unit)}
for p in glob.glob(os.path.join(d, "*_t*_*.json")):
    label, t, pair = re.match(r"([AB])_t(\d+)_(\d+)\.json", os.path.basename(p)).groups()
    doc = json.load(open(p))
    runs[(label, int(t), int(pair))] = {b["name"].split("/manual_time")[0].split("/real_time")[0]:
                                        (b["real_time"], b["cpu_time"], b["time_unit"]) for b in doc["benchmarks"]}
rows = sorted({r for v in runs.values() for r in v})
threads = sorted({k[1] for k in runs})
pairs = sorted({k[2] for k in runs})
f = lambda xs: ", ".join(f"{x:.0f}" if x >= 100 else f"{x:.1f}" for x in xs)
print("| row | threads | unit | A wall (OpenBLAS) | B wall (oneDNN) | median B/A wall | min B / min A wall | A CPU | B CPU | median B/A CPU |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    for t in threads:
        got = [(runs[("A", t, i)][r], runs[("B", t, i)][r]) for i in pairs if r in runs.get(("A", t, i), {}) and r in runs.get(("B", t, i), {})]
        if not got:
            continue
        unit = got[0][0][2]
        aw, bw = [a[0] for a, _ in got], [b[0] for _, b in got]
        ac, bc = [a[1] for a, _ in got], [b[1] for _, b in got]
        print(f"| {r} | {t} | {unit} | {f(aw)} | {f(bw)} | {statistics.median(b / a for a, b in zip(aw, bw)):.2f} | {min(bw) / min(aw):.2f} | "
              f"{f(ac)} | {f(bc)} | {statistics.median(b / a for a, b in zip(ac, bc)):.2f} |")

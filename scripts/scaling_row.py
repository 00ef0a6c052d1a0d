#!/usr/bin/env python3
"""scaling_row.py REPORT MODE RANKS BATCH GLOBAL_BATCH STEPS DEVICE THREADS BASE_RANKS BASE_IPS

One CSV row of scripts/scaling.sh from the JSON report of one run: checks the
report ran the rank and step counts asked for, and prints mode, ranks, devices,
threads, batch sizes, steps, images/s, the speedup and efficiency against the
sweep's first run (BASE_RANKS, BASE_IPS; empty for the first run itself), the
compute/communication/data seconds, the time per step in ms and the number of
nodes (distinct host names of the ranks in the report).
"""
import json, sys
r = json.load(open(sys.argv[1]))
mode, p, b, g, steps, device, threads, base_ranks, base_ips = sys.argv[2:11]
p, b, g, steps = int(p), int(b), int(g), int(steps)
threads = int(r.get("threads_per_rank", threads))  # what the program used
assert r["world_size"] == p, f"report says {r['world_size']} ranks, expected {p}"
assert r["steps"] == steps, f"report says {r['steps']} steps, expected {steps}"
ips = float(r["train_images_per_second"])
r0, ips0 = (int(base_ranks), float(base_ips)) if base_ranks else (p, ips)
speedup = r0 * ips / ips0
t = r["time_seconds"]
devices = p * threads if device == "cpu" else p
nodes = len(set(r["ranks"]["node"]))
print(f"{mode},{p},{devices},{threads},{b},{g},{steps},{ips:.2f},{speedup:.4f},{speedup / p:.4f},"
      f"{t['compute']:.4f},{t['communication']:.4f},{t['data']:.4f},{1000.0 * g / ips:.3f},{nodes}")

#!/usr/bin/env python3
"""check_sweep_report.py REPORT RANKS — the assertions of tests/slurm/test_slurm.sh on
the JSON report of one run of the requeued scaling sweep: it ran on RANKS ranks,
4 steps, at a positive throughput.
"""
import json, sys
r = json.load(open(sys.argv[1]))
assert r["world_size"] == int(sys.argv[2]), r["world_size"]
assert r["steps"] == 4 and r["train_images_per_second"] > 0, (r["steps"], r["train_images_per_second"])

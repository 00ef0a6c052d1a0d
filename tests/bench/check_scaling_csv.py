#!/usr/bin/env python3
"""check_scaling_csv.py CSV — the assertions of tests/bench/test_scaling.sh on the CSV
that scripts/scaling.sh wrote for "--mode both --ranks "1 2" --steps 3 --batch 8":
its columns, the four rows' shapes, positive timings, efficiency = speedup / ranks,
step_ms = global batch / throughput, and communication only with two ranks.
Exits non-zero on the first that fails.
"""
import csv, sys
expected = ("mode,ranks,devices,threads_per_rank,batch_per_rank,global_batch,steps,images_per_second,speedup,"
            "efficiency,compute_s,communication_s,data_s,step_ms,nodes").split(",")
with open(sys.argv[1]) as f:
    reader = csv.DictReader(f)
    assert reader.fieldnames == expected, f"columns {reader.fieldnames}"
    rows = list(reader)
shape = [(r["mode"], int(r["ranks"]), int(r["batch_per_rank"]), int(r["global_batch"])) for r in rows]
assert shape == [("weak", 1, 8, 8), ("weak", 2, 8, 16), ("strong", 1, 8, 8), ("strong", 2, 4, 8)], shape
for r in rows:
    assert int(r["steps"]) == 3, r
    assert int(r["threads_per_rank"]) == 1 and int(r["devices"]) == int(r["ranks"]), r
    assert int(r["nodes"]) == 1, r  # one machine
    for k in ("images_per_second", "speedup", "efficiency", "compute_s", "step_ms"):
        assert float(r[k]) > 0, (k, r)
    for k in ("communication_s", "data_s"):
        assert float(r[k]) >= 0, (k, r)
    p = int(r["ranks"])
    assert abs(float(r["efficiency"]) - float(r["speedup"]) / p) < 1e-3, r
    # step_ms is the global batch over the throughput
    assert abs(float(r["step_ms"]) - 1000 * int(r["global_batch"]) / float(r["images_per_second"])) < 0.01 * float(r["step_ms"]), r
    if p == 1:
        assert float(r["speedup"]) == 1.0 and float(r["communication_s"]) == 0.0, r
    else:
        assert float(r["communication_s"]) > 0, ("two ranks must all-reduce", r)
print("scaling CSV ok:", len(rows), "rows")

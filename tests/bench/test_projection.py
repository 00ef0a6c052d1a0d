"""test_projection.py — scripts/projection.py's models, and a run on a small CSV.

    python3 tests/bench/test_projection.py scripts/projection.py

1. The α–β formulas against hand-computed values (ring, tree, hierarchical).
2. The compute fit recovers a known line from exact per-step times.
3. The FLOP count of the seed CNN from its layer shapes.
4. An end-to-end run on a small weak + strong CSV: both PNGs (valid PNG files),
   projection.csv with every rank count 1 … 512 for weak scaling, and scaling.md
   with its sections and the measured rows.
"""
import csv
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile

projection_path = os.path.abspath(sys.argv[1])
spec = importlib.util.spec_from_file_location("projection", projection_path)
proj = importlib.util.module_from_spec(spec)
spec.loader.exec_module(proj)


def close(a, b, rel=1e-12):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-30)


# 1. all-reduce models
a, b, n = 2e-6, 10e9, 1.75e6
assert proj.ring(1, n, a, b) == 0.0 and proj.tree(1, n, a, b) == 0.0
assert close(proj.ring(2, n, a, b), 2 * a + n / b)                       # 2(p-1)α + 2(p-1)/p·n/β at p = 2
assert close(proj.ring(8, n, a, b), 14 * a + 2 * 7 / 8 * n / b)
assert close(proj.tree(8, n, a, b), 6 * a + 2 * n / b)                   # 2·log2(8)·α + 2n/β
assert close(proj.tree(5, n, a, b), 6 * a + 2 * n / b)                   # ⌈log2 5⌉ = 3
# Within one node the hierarchical all-reduce is the node's ring.
assert close(proj.hierarchical(8, n, 8, a, b, 5e-6, 1e9), proj.ring(8, n, a, b))
# Two nodes of 4: reduce-scatter + all-gather in the node, then n/4 between the nodes.
intra = 3 * a + 3 / 4 * n / b
a2, b2 = 5e-6, 1e9
inter = min(proj.ring(2, n / 4, a2, b2), proj.tree(2, n / 4, a2, b2))
assert close(proj.hierarchical(8, n, 4, a, b, a2, b2), 2 * intra + inter)
# More ranks never make the weak-scaling all-reduce cheaper in these models.
prev = 0.0
for p in (2 ** k for k in range(10)):
    t = proj.hierarchical(p, n, 8, a, b, a2, b2)
    assert t >= prev - 1e-15, (p, t, prev)
    prev = t

# 2. compute fit: t = 3 ms + 0.5 ms per image, exactly
rows = [{"batch_per_rank": bb, "compute_s": (3e-3 + 0.5e-3 * bb) * 10 * 0.9, "data_s": (3e-3 + 0.5e-3 * bb) * 10 * 0.1,
         "steps": 10.0} for bb in (8.0, 16.0, 64.0)]
c0, c1, how = proj.fit_compute(rows)
assert close(c0, 3e-3, 1e-9) and close(c1, 0.5e-3, 1e-9), (c0, c1, how)
c0, c1, how = proj.fit_compute(rows[:1])            # one batch size: proportional
assert c0 == 0.0 and close(c1, (3e-3 + 0.5e-3 * 8) / 8, 1e-9), (c0, c1)

# 3. FLOPs of one training image: conv 2·H·W·K·K·Cin·Cout forward, twice that backward
fwd = 2 * (28 * 28 * 9 * 1 * 32 + 28 * 28 * 9 * 32 * 32 + 14 * 14 * 9 * 32 * 64 + 14 * 14 * 9 * 64 * 64
           + 7 * 7 * 9 * 64 * 128 + 1152 * 256 + 256 * 10)
first_dx = 2 * 28 * 28 * 9 * 1 * 32                    # the first layer computes no dX
assert close(proj.train_flops_per_image(), 3 * fwd - first_dx), proj.train_flops_per_image()

# 4. end to end
with tempfile.TemporaryDirectory() as tmp:
    sweep = os.path.join(tmp, "scaling.csv")
    cols = ("mode,ranks,devices,threads_per_rank,batch_per_rank,global_batch,steps,images_per_second,speedup,"
            "efficiency,compute_s,communication_s,data_s,step_ms").split(",")
    measured = [("weak", 1, 64, 64, 500.0, 1.0, 5.0, 0.0), ("weak", 2, 64, 128, 980.0, 1.96, 5.0, 0.2),
                ("strong", 1, 128, 128, 520.0, 1.0, 9.8, 0.0), ("strong", 2, 64, 128, 990.0, 1.90, 5.0, 0.2)]
    with open(sweep, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for mode, p, bb, g, ips, sp, comp, comm in measured:
            w.writerow([mode, p, p, 1, bb, g, 20, ips, sp, sp / p, comp, comm, 0.05, 1000 * g / ips])
    out = os.path.join(tmp, "out")
    os.makedirs(out)
    run = subprocess.run([sys.executable, projection_path, "--csv", sweep, "--bench-dir", os.path.join(tmp, "none"),
                          "--gpu-csv", os.path.join(tmp, "none.csv"), "--out-dir", out],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for name in ("scaling_images_per_second.png", "scaling_efficiency.png"):
        path = os.path.join(out, "plots", name)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        assert os.path.getsize(path) > 10000, f"{path} is suspiciously small"
    with open(os.path.join(out, "projection.csv")) as f:
        proj_rows = list(csv.DictReader(f))
    weak_gpu = [r for r in proj_rows if r["system"] == "gpu" and r["mode"] == "weak"]
    assert [int(float(r["ranks"])) for r in weak_gpu] == [2 ** k for k in range(10)], weak_gpu
    assert all(float(r["images_per_second"]) > 0 and 0 < float(r["efficiency"]) <= 1.0 + 1e-9 for r in proj_rows)
    assert all(float(r["global_batch"]) == 128 for r in proj_rows if r["mode"] == "strong")
    # the weak epoch: 54 000 images at 512 × 64 = 32 768 per step → 2 steps
    assert int(weak_gpu[-1]["steps_per_epoch"]) == math.ceil(54000 / (512 * 64)) == 2
    md = open(os.path.join(out, "scaling.md")).read()
    for needle in ("## Measured", "## The model", "## Projection", "## Where MNIST stops scaling",
                   "ASSUMED", "nccl-tests", "NVLink", "InfiniBand", "| weak | 2 | 2 | 64 | 128 | 980 |"):
        assert needle in md, f"scaling.md lacks {needle!r}"
    # A GPU forward + backward measurement replaces the assumed GPU compute.
    bench = os.path.join(tmp, "bench")
    os.makedirs(bench)
    with open(os.path.join(bench, "bench_cuda_np1.json"), "w") as f:
        json.dump({"context": {}, "benchmarks": [
            {"name": "BM_CudaForwardBackward/64/manual_time", "run_type": "iteration", "real_time": 500.0, "time_unit": "us"},
            {"name": "BM_CudaForwardBackward/128/manual_time", "run_type": "iteration", "real_time": 756.0, "time_unit": "us"}]}, f)
    out2 = os.path.join(tmp, "out2")
    os.makedirs(out2)
    run = subprocess.run([sys.executable, projection_path, "--csv", sweep, "--bench-dir", bench,
                          "--gpu-csv", os.path.join(tmp, "none.csv"), "--out-dir", out2], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    md = open(os.path.join(out2, "scaling.md")).read()
    assert "| GPU t_compute(b) | 0.24 ms + 4.00 µs × b | measured" in md, md
    assert "ASSUMED" not in md
print("PASS")

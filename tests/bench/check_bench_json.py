#!/usr/bin/env python3
"""check_bench_json.py CPU_JSON ALLREDUCE_JSON — the assertions of
tests/bench/test_bench_smoke.sh on a short bench_cpu and a 2-rank bench_allreduce run
(Google Benchmark JSON): the context keys, the counters of the layer, augmentation
and training-step rows (FLOP counts per call checked against the layer shapes), and
the all-reduce rows' sizes and bandwidths. Prints PASS, or fails on an assertion.
"""
import json, sys
cpu = json.load(open(sys.argv[1]))
ctx = cpu["context"]
assert "ISA" in ctx["onednn"] and "dnnl_sgemm" in ctx["sgemm"] and "blas" not in ctx, ctx
assert ctx["threads"] == "1" and ctx["layer_batch"] == "128", ctx
# The dense layers run oneDNN's inner product: their primitives are on record.
assert "dense forward: " in ctx["onednn_primitives"] and "dense_1 backward-data: " in ctx["onednn_primitives"], ctx
rows = {b["name"].split("/manual_time")[0].split("/real_time")[0]: b for b in cpu["benchmarks"]}
aug = rows["BM_Augment/64"]
assert aug["images/s"] > 0 and aug["items_per_second"] > 0, aug
conv0, conv1 = rows["BM_LayerForward/00_conv2d"], rows["BM_LayerForward/02_conv2d_1"]
for b in (conv0, conv1, rows["BM_LayerBackward/17_dense"]):
    assert b["GFLOP/s"] > 0 and b["sgemm_GFLOP/s"] > 0 and b["%_of_sgemm"] > 0, b
    assert abs(b["%_of_sgemm"] - 100 * b["GFLOP/s"] / b["sgemm_GFLOP/s"]) < 1e-6 * b["%_of_sgemm"], b
# FLOPs per call = GFLOP/s × time: conv 2·H·W·K·K·Cin·Cout per image, batch 128.
sec = lambda b: b["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
for b, macs in ((conv0, 28 * 28 * 9 * 1 * 32), (conv1, 28 * 28 * 9 * 32 * 32)):
    flops = b["GFLOP/s"] * 1e9 * sec(b)
    assert abs(flops - 2 * macs * 128) < 1e-6 * flops, (b["name"], flops, 2 * macs * 128)
# The first layer's backward row: dW only (it gets no dx, as in the model), 2·MACs.
bwd = rows["BM_LayerBackward/00_conv2d"]
assert abs(bwd["GFLOP/s"] * 1e9 * sec(bwd) - 2 * 28 * 28 * 9 * 32 * 128) < 1e-3 * 2 * 28 * 28 * 9 * 32 * 128, bwd
# The training step counts the matrix products: 3 x forward, less the first layer's dX.
fwd = 2 * (28 * 28 * 9 * 1 * 32 + 28 * 28 * 9 * 32 * 32 + 14 * 14 * 9 * 32 * 64 + 14 * 14 * 9 * 64 * 64
           + 7 * 7 * 9 * 64 * 128 + 1152 * 256 + 256 * 10)
step = rows["BM_TrainStep/64"]
assert step["images/s"] > 0 and step["%_of_sgemm"] > 0, step
step_flops = step["GFLOP/s"] * 1e9 * step["iterations"] / (step["images/s"] / 64 * step["iterations"])
assert abs(step_flops - 64 * (3 * fwd - 2 * 28 * 28 * 9 * 32)) < 1e-6 * step_flops, step_flops
bn = rows["BM_LayerForward/01_batch_normalization"]
assert "%_of_sgemm" not in bn and bn["GB/s"] > 0, bn          # element-wise: bandwidth, no GEMM ceiling
flat = rows["BM_LayerForward/16_flatten"]
assert "GFLOP/s" not in flat and flat["GB/s"] > 0, flat     # a copy: no arithmetic

ar = json.load(open(sys.argv[2]))
assert ar["context"]["mpi_ranks"] == "2" and ar["context"]["gradient_floats"] == "437738", ar["context"]
names = [b["name"].split("/manual_time")[0] for b in ar["benchmarks"]]
assert names == ["BM_AllreduceMpi/bytes:4", "BM_AllreduceMpi/bytes:4096", "BM_AllreduceMpi/bytes:67108864",
                 "BM_AllreduceMpi/gradient"], names
for b in ar["benchmarks"]:
    assert b["ranks"] == 2 and b["algbw_GB/s"] > 0, b
    assert abs(b["busbw_GB/s"] - b["algbw_GB/s"] * 2 * (2 - 1) / 2) < 1e-9 * b["algbw_GB/s"], b
    assert abs(b["algbw_GB/s"] * 1e9 * sec(b) - b["bytes"]) < 1e-6 * b["bytes"], b
assert ar["benchmarks"][-1]["bytes"] == 4 * 437738
print("PASS")

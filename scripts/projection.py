#!/usr/bin/env python3
"""projection.py — the scaling model: measured points and a projection to 512 ranks.

    /usr/bin/python3 scripts/projection.py                       # results/scaling.csv + results/bench/
    /usr/bin/python3 scripts/projection.py --csv S.csv --bench-dir B --out-dir results

Reads the sweep CSV of scripts/scaling.sh (CPU; and --gpu-csv for a sweep on GPUs,
if one was run) and, when present, the benchmark JSON of scripts/bench.sh, and
models one synchronous data-parallel training step on p ranks as

    t(p) = t_compute(b) + t_allreduce(p, n)        b: per-rank batch, n: gradient bytes

  t_compute(b) = c0 + c1·b: fitted to the measured per-step compute + data time of
      the sweep (CPU). For GPUs, a GPU sweep's figures when given, else
      bench_cuda's forward + backward rows when there are any, and otherwise an
      ASSUMPTION, labelled "assumed" everywhere: a fixed launch/synchronisation cost
      per step plus the step's FLOPs at a stated fraction of the H100's FP32 peak.
  t_allreduce: α–β models (α: latency per message step, β: bandwidth per direction)
      ring   2(p-1)·α + 2(p-1)/p · n/β
      tree   2·⌈log2 p⌉·α + 2·n/β                       (NCCL's double binary tree)
      hierarchical, g ranks per node, N = p/g nodes:
             reduce-scatter in the node (ring, g)  (g-1)·α_in + (g-1)/g · n/β_in
           + all-reduce of n/g between nodes       min(ring, tree) over N with α_out, β_out
             (one NIC per GPU: the g slices travel on g rails at once)
           + all-gather in the node                 as the reduce-scatter
  images/s = p·b / t(p); efficiency = images/s(p) / (p · images/s(1)).

Interconnect figures are published specifications (cited in the markdown it
writes), not measurements; latencies α are stated assumptions. Outputs:
  OUT/plots/scaling_images_per_second.png, OUT/plots/scaling_efficiency.png
  OUT/scaling.md        measured table, fitted and assumed parameters, projection
                        table, where MNIST stops scaling — every figure from the inputs
  OUT/projection.csv    the projected points
"""
import argparse
import csv
import json
import math
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

GB = 1e9
US = 1e-6

# ---- published interconnect figures (sources in SOURCES) ----------------------------
NVLINK4_PER_DIRECTION = 450 * GB   # H100 SXM: NVLink 4, 900 GB/s total bidirectional per GPU
IB_NDR_PORT = 400e9 / 8            # NDR 400 Gb/s per port = 50 GB/s (DGX H100: one ConnectX-7 per GPU)
IB_HDR_PORT = 200e9 / 8            # HDR 200 Gb/s per port = 25 GB/s
H100_FP32_PEAK = 67e12             # H100 SXM FP32 (non-tensor) FLOP/s
GPUS_PER_NODE = 8                  # DGX/HGX H100: 8 GPUs on 4 NVSwitches

SOURCES = [
    ("NVIDIA H100 Tensor Core GPU datasheet", "https://www.nvidia.com/en-us/data-center/h100/",
     "H100 SXM: NVLink 900 GB/s (total, both directions), FP32 67 TFLOPS"),
    ("NVIDIA DGX H100 User Guide", "https://docs.nvidia.com/dgx/dgxh100-user-guide/",
     "8 H100 GPUs on 4 NVSwitches; 8 single-port ConnectX-7 adapters, 400 Gb/s InfiniBand each, one per GPU"),
    ("NVIDIA Quantum-2 InfiniBand platform (QM9700 switch) datasheet",
     "https://www.nvidia.com/en-us/networking/quantum2/", "NDR: 400 Gb/s per port"),
    ("NVIDIA Quantum InfiniBand (QM8700, HDR) switch datasheet",
     "https://www.nvidia.com/en-us/networking/infiniband/qm8700/", "HDR: 200 Gb/s per port"),
    ("nccl-tests, doc/PERFORMANCE.md", "https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md",
     "algbw = S/t; all-reduce busbw = algbw · 2(n-1)/n; ring and tree all-reduce"),
]

# The seed CNN as (kind, output h, w, c, kernel, input c) for the FLOP count of
# its matrix products; the same count as bench/layer_flops.hpp's
# train_step_gemm_flops_per_image (checked against bench_cpu.json when given).
SEED_CNN = [("conv", 28, 28, 32, 3, 1), ("conv", 28, 28, 32, 3, 32), ("conv", 14, 14, 64, 3, 32),
            ("conv", 14, 14, 64, 3, 64), ("conv", 7, 7, 128, 3, 64), ("dense", 1, 1, 256, 0, 1152),
            ("dense", 1, 1, 10, 0, 256)]


def train_flops_per_image():
    """Forward + backward GEMM FLOPs of one image (the first layer computes no dX)."""
    total = 0.0
    for i, (kind, h, w, c, k, cin) in enumerate(SEED_CNN):
        macs = h * w * k * k * cin * c if kind == "conv" else cin * c
        total += 2 * macs + (2 if i == 0 else 4) * macs
    return total


# ---- all-reduce models ----------------------------------------------------------------
def ring(p, n, alpha, beta):
    return 0.0 if p <= 1 else 2 * (p - 1) * alpha + 2 * (p - 1) / p * n / beta


def tree(p, n, alpha, beta):
    return 0.0 if p <= 1 else 2 * math.ceil(math.log2(p)) * alpha + 2 * n / beta


def hierarchical(p, n, per_node, a_in, b_in, a_out, b_out):
    g = min(p, per_node)
    nodes = math.ceil(p / g)
    if nodes == 1:
        return ring(g, n, a_in, b_in)
    intra = (g - 1) * a_in + (g - 1) / g * n / b_in if g > 1 else 0.0
    inter = min(ring(nodes, n / g, a_out, b_out), tree(nodes, n / g, a_out, b_out))
    return 2 * intra + inter


# ---- inputs -------------------------------------------------------------------------
def read_csv(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    need = {"mode", "ranks", "batch_per_rank", "global_batch", "steps", "images_per_second", "efficiency",
            "compute_s", "communication_s", "data_s"}
    missing = need - set(rows[0].keys() if rows else [])
    if not rows or missing:
        sys.exit(f"projection.py: {path}: no rows or missing columns {sorted(missing)}")
    for r in rows:
        for k in r:
            if k != "mode":
                r[k] = float(r[k])
    return rows


def fit_compute(rows):
    """c0 + c1·b from the per-step compute + data seconds of every measured run."""
    b = np.array([r["batch_per_rank"] for r in rows])
    t = np.array([(r["compute_s"] + r["data_s"]) / r["steps"] for r in rows])
    if len(set(b)) >= 2:
        c1, c0 = np.polyfit(b, t, 1)
        if c0 >= 0 and c1 > 0:
            return float(c0), float(c1), "least-squares line through the measured runs"
    c1 = float(np.mean(t / b))
    return 0.0, c1, "proportional to the batch (one batch size measured)"


def fit_mpi(bench_dir):
    """α, β of this machine's MPI all-reduce from bench_allreduce_np2.json (ring model, p = 2)."""
    path = os.path.join(bench_dir, "bench_allreduce_np2.json")
    if not os.path.exists(path):
        return None
    doc = json.load(open(path))
    pts = []
    for b in doc["benchmarks"]:
        m = re.match(r"BM_AllreduceMpi/bytes:(\d+)", b["name"])
        if m:
            scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
            pts.append((int(m.group(1)), b["real_time"] * scale))
    if len(pts) < 4:
        return None
    pts.sort()
    small = [t for n, t in pts if n <= 1024]
    alpha = float(np.median(small)) / 2 if small else 1 * US          # p = 2: 2(p-1)α = 2α
    large = [(n, t) for n, t in pts if n >= 1 << 20]
    beta = max(n / max(t - 2 * alpha, 1e-9) for n, t in large) if large else None  # 2(p-1)/p·n/β = n/β
    if not beta:
        return None
    return alpha, beta, os.path.basename(path)


def bench_flops(bench_dir):
    """FLOPs per image of the training step as bench_cpu counts them (GFLOP/s × time / batch)."""
    path = os.path.join(bench_dir, "bench_cpu.json")
    if not os.path.exists(path):
        return None
    for b in json.load(open(path))["benchmarks"]:
        m = re.match(r"BM_TrainStep/(\d+)", b["name"])
        if m and "GFLOP/s" in b:
            scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
            return b["GFLOP/s"] * 1e9 * b["real_time"] * scale / int(m.group(1))
    return None


def gpu_bench_compute(bench_dir):
    """c0 + c1·b from bench_cuda_np1.json's forward + backward rows (BM_CudaForwardBackward/B)."""
    path = os.path.join(bench_dir, "bench_cuda_np1.json")
    if not os.path.exists(path):
        return None
    pts = []
    for b in json.load(open(path))["benchmarks"]:
        m = re.match(r"BM_CudaForwardBackward/(\d+)", b["name"])
        if m and b.get("run_type", "iteration") == "iteration":
            scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
            pts.append((float(m.group(1)), b["real_time"] * scale))
    if not pts:
        return None
    rows = [{"batch_per_rank": bb, "compute_s": t, "data_s": 0.0, "steps": 1.0} for bb, t in pts]
    c0, c1, how = fit_compute(rows)
    return c0, c1, f"`{os.path.basename(path)}` (BM_CudaForwardBackward), {how}"


# ---- the projection -----------------------------------------------------------------
def project(ranks, mode, batch, compute, allreduce, n_bytes, train_images):
    out = []
    base = None
    for p in ranks:
        b = batch if mode == "weak" else batch / p
        if b < 1:
            break
        tc = compute(b)
        ta = allreduce(p, n_bytes)
        step = tc + ta
        ips = p * b / step
        if base is None:
            base = ips / p
        out.append({"ranks": p, "batch_per_rank": b, "global_batch": p * b, "compute_ms": tc * 1e3,
                    "allreduce_ms": ta * 1e3, "step_ms": step * 1e3, "images_per_second": ips,
                    "efficiency": ips / (p * base), "comm_share": ta / step,
                    "steps_per_epoch": math.ceil(train_images / (p * b))})
    return out


def first(points, pred):
    return next((q for q in points if pred(q)), None)


def parse_args(root):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", default=os.path.join(root, "results", "scaling.csv"), help="CPU sweep of scripts/scaling.sh")
    ap.add_argument("--gpu-csv", default=os.path.join(root, "results", "scaling_gpu.csv"),
                    help="a sweep with --device cuda, used for the GPU compute when it exists")
    ap.add_argument("--bench-dir", default=os.path.join(root, "results", "bench"), help="scripts/bench.sh output")
    ap.add_argument("--out-dir", default=os.path.join(root, "results"), help="scaling.md, projection.csv, plots/")
    ap.add_argument("--max-ranks", type=int, default=512)
    ap.add_argument("--train-images", type=int, default=54000,
                    help="images in an epoch (60 000 less the 10 %% validation split)")
    ap.add_argument("--gradient-floats", type=int, default=437738)
    ap.add_argument("--weak-batch", type=float, help="per-rank batch of the weak projection (default: the CSV's)")
    ap.add_argument("--strong-batch", type=float, help="global batch of the strong projection (default: the CSV's, else 512)")
    ap.add_argument("--cpu-ranks-per-node", type=int, help="ranks per CPU node (default: the most ranks measured)")
    ap.add_argument("--alpha-nvlink-us", type=float, default=1.0, help="assumed latency per NVLink message step")
    ap.add_argument("--alpha-ib-us", type=float, default=3.0, help="assumed latency per InfiniBand message step")
    ap.add_argument("--gpu-call-us", type=float, default=10.0,
                    help="assumed fixed cost of one NCCL all-reduce call (launch + synchronisation)")
    ap.add_argument("--gpu-launch-ms", type=float, default=0.4,
                    help="ASSUMED GPU compute: fixed cost per step (about 80 kernels x 5 us)")
    ap.add_argument("--gpu-fp32-fraction", type=float, default=0.3,
                    help="ASSUMED GPU compute: fraction of the FP32 peak the layers reach")
    return ap.parse_args()


class Setup:
    """What every part of the output reads: the arguments, the sweep, and the
    figures derived from them (gradient size, rank list, projected batches)."""

    def __init__(self, root, args):
        self.root, self.args = root, args
        self.rows = read_csv(args.csv)
        self.n_bytes = 4.0 * args.gradient_floats
        self.ranks = [2 ** k for k in range(int(math.log2(args.max_ranks)) + 1)]
        weak_rows = [r for r in self.rows if r["mode"] == "weak"]
        strong_rows = [r for r in self.rows if r["mode"] == "strong"]
        self.weak_b = args.weak_batch or (weak_rows[0]["batch_per_rank"] if weak_rows else 64.0)
        self.strong_g = args.strong_batch or (strong_rows[0]["global_batch"] if strong_rows else 512.0)
        self.per_node = args.cpu_ranks_per_node or int(max(r["ranks"] for r in self.rows))
        self.notes = []


def cpu_shared_memory_allreduce(st):
    """α and β of the all-reduce within a CPU node, and how they were found."""
    mpi = fit_mpi(st.args.bench_dir)
    if mpi:
        a_shm, b_shm, mpi_src = mpi
        return a_shm, b_shm, f"fitted to `{mpi_src}` (ring model on 2 ranks: α from ≤ 1 KiB, β from ≥ 1 MiB)"
    multi = [r for r in st.rows if r["ranks"] >= 2 and r["communication_s"] > 0]
    a_shm = 1 * US
    if multi:
        r = max(multi, key=lambda r: r["ranks"])
        p = r["ranks"]
        t = r["communication_s"] / r["steps"]
        b_shm = 2 * (p - 1) / p * st.n_bytes / max(t - 2 * (p - 1) * a_shm, 1e-9)
        return a_shm, b_shm, (f"no bench_allreduce_np2.json: β from the sweep's communication time at {int(p)} ranks "
                              f"({t * 1e3:.2f} ms per step), α assumed 1 µs")
    return a_shm, 5 * GB, "no measurement: α 1 µs, β 5 GB/s assumed"


def cpu_model(st):
    """CPU: compute fitted to the sweep; all-reduce within a node as measured here
    (bench_allreduce on 2 ranks), between nodes over InfiniBand HDR."""
    st.c0, st.c1, st.fit_how = fit_compute(st.rows)
    st.a_shm, st.b_shm, st.mpi_how = cpu_shared_memory_allreduce(st)
    st.a_ib = st.args.alpha_ib_us * US
    st.cpu_compute = lambda b: st.c0 + st.c1 * b
    st.cpu_allreduce = lambda p, n: hierarchical(p, n, st.per_node, st.a_shm, st.b_shm, st.a_ib, IB_HDR_PORT)


def gpu_compute_model(st):
    """GPU compute: measured on GPUs if a GPU sweep exists, else bench_cuda's
    forward + backward, else assumed. Sets g0, g1, the label and how it was found."""
    args = st.args
    gpu_bench = gpu_bench_compute(args.bench_dir)
    st.gpu_assumed = False
    if os.path.exists(args.gpu_csv):
        st.g0, st.g1, g_how = fit_compute(read_csv(args.gpu_csv))
        st.gpu_label = "GPU (measured compute, H100 interconnect)"
        st.gpu_how = f"measured: `{os.path.relpath(args.gpu_csv, st.root)}`, {g_how}"
    elif gpu_bench:
        st.g0, st.g1, g_how = gpu_bench
        st.gpu_label = "GPU (measured forward+backward, H100 interconnect)"
        st.gpu_how = (f"measured: {g_how}; forward and backward only — augmentation, loss and optimizer "
                      "kernels are not included, so the step is somewhat longer")
    else:
        st.g0 = args.gpu_launch_ms * 1e-3
        st.g1 = st.flops_img / (args.gpu_fp32_fraction * H100_FP32_PEAK)
        st.gpu_label = "GPU (H100 + NVLink/NDR, ASSUMED compute)"
        st.gpu_how = (f"ASSUMED (no GPU measurement in results/): {args.gpu_launch_ms} ms per step of kernel launches "
                      f"and synchronisation + {st.flops_img / 1e6:.0f} MFLOP per image at {args.gpu_fp32_fraction:.0%} "
                      f"of the H100's 67 TFLOPS FP32")
        st.gpu_assumed = True


def gpu_model(st):
    st.flops_img = train_flops_per_image()
    measured_flops = bench_flops(st.args.bench_dir)
    if measured_flops and abs(measured_flops - st.flops_img) > 1e-3 * st.flops_img:
        st.notes.append(f"bench_cpu.json counts {measured_flops / 1e6:.1f} MFLOP per image in a training step, this "
                        f"script {st.flops_img / 1e6:.1f}: SEED_CNN here and bench/layer_flops.hpp disagree; the model "
                        "uses the latter figure.")
    gpu_compute_model(st)
    st.a_nv = st.args.alpha_nvlink_us * US
    st.call = st.args.gpu_call_us * US
    st.gpu_compute = lambda b: st.g0 + st.g1 * b
    st.gpu_allreduce = lambda p, n: (st.call if p > 1 else 0.0) + hierarchical(
        p, n, GPUS_PER_NODE, st.a_nv, NVLINK4_PER_DIRECTION, st.a_ib, IB_NDR_PORT)
    st.gpu_flat_ring = lambda p, n: (st.call if p > 1 else 0.0) + ring(p, n, st.a_ib, IB_NDR_PORT)


def project_curves(st):
    curves = {}
    for mode, batch in (("weak", st.weak_b), ("strong", st.strong_g)):
        for system, compute, allreduce in (("cpu", st.cpu_compute, st.cpu_allreduce),
                                           ("gpu", st.gpu_compute, st.gpu_allreduce),
                                           ("gpu_ring", st.gpu_compute, st.gpu_flat_ring)):
            curves[(system, mode)] = project(st.ranks, mode, batch, compute, allreduce, st.n_bytes,
                                             st.args.train_images)
    return curves


def plot_panel(st, curves, ax, mode, batch, metric, ylabel, style):
    for key, (color, ls, label) in style.items():
        pts = curves[(key, mode)]
        ax.plot([q["ranks"] for q in pts], [q[metric] for q in pts], color=color, ls=ls, marker=".", label=label)
    meas = sorted((r for r in st.rows if r["mode"] == mode), key=lambda r: r["ranks"])
    if meas:
        ax.plot([r["ranks"] for r in meas], [r[metric] for r in meas], "o", color="tab:red", ms=7,
                label=f"CPU measured ({os.path.basename(st.args.csv)})")
    if mode == "weak":  # where an epoch becomes a couple of steps
        few = first(curves[("gpu", mode)], lambda q: q["steps_per_epoch"] <= 2)
        if few:
            ax.axvline(few["ranks"], color="gray", ls="--", lw=1)
            ax.text(few["ranks"], 0.02, f" ≤ 2 steps/epoch\n (global batch {int(few['global_batch'])})",
                    transform=ax.get_xaxis_transform(), fontsize=7, color="gray", ha="right")
    ax.set_xscale("log", base=2)
    ax.set_xlim(1, st.args.max_ranks)
    if metric == "images_per_second":
        ax.set_yscale("log")
    else:
        ax.set_ylim(0, 1.1)
    ax.set_xlabel("ranks (CPU cores or GPUs)")
    ax.set_ylabel(ylabel)
    what = f"{int(batch)} per rank" if mode == "weak" else f"global {int(batch)}"
    ax.set_title(f"{mode} scaling (batch {what})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def write_plots(st, curves):
    plots = os.path.join(st.args.out_dir, "plots")
    os.makedirs(plots, exist_ok=True)
    style = {"cpu": ("tab:blue", "-", f"CPU projection ({st.per_node} ranks/node, IB HDR between nodes)"),
             "gpu": ("tab:green", "-", st.gpu_label + ", hierarchical"),
             "gpu_ring": ("tab:green", ":", "GPU, flat ring over IB NDR (for comparison)")}
    files = {}
    for metric, ylabel, fname in (("images_per_second", "images/s", "scaling_images_per_second.png"),
                                  ("efficiency", "efficiency = img/s(p) / (p · img/s(1))", "scaling_efficiency.png")):
        fig, axes = plt.subplots(1, 2, figsize=(13, 5))
        for ax, mode, batch in ((axes[0], "weak", st.weak_b), (axes[1], "strong", st.strong_g)):
            plot_panel(st, curves, ax, mode, batch, metric, ylabel, style)
        fig.suptitle("mnist_ddp: measured and projected (α–β all-reduce model; published link figures)")
        fig.tight_layout()
        path = os.path.join(plots, fname)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files[metric] = path
    return files


def write_projection_csv(st, curves):
    cols = ["system", "mode", "ranks", "batch_per_rank", "global_batch", "compute_ms", "allreduce_ms", "step_ms",
            "images_per_second", "efficiency", "comm_share", "steps_per_epoch"]
    with open(os.path.join(st.args.out_dir, "projection.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for (system, mode), pts in curves.items():
            for q in pts:
                w.writerow([system, mode] + [f"{q[c]:.6g}" for c in cols[2:]])


def md_measured(st, files):
    args, root = st.args, st.root
    rel = lambda p: os.path.relpath(p, args.out_dir)  # noqa: E731
    md = ["# Scaling: measured on this machine, projected to 512 ranks", "",
          f"Generated by `scripts/projection.py` from `{os.path.relpath(args.csv, root)}`"
          + (f" and `{os.path.relpath(args.bench_dir, root)}/`" if os.path.isdir(args.bench_dir) else "")
          + ". Rerun it after a new sweep; every figure below comes from those files and the stated assumptions.", "",
          f"![images/s]({rel(files['images_per_second'])})", f"![efficiency]({rel(files['efficiency'])})", "",
          "## Measured (scripts/scaling.sh)", "",
          "| mode | ranks | devices | batch/rank | global | images/s | speedup | efficiency | compute s | comm s | data s | step ms |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in st.rows:
        md.append(f"| {r['mode']} | {int(r['ranks'])} | {int(r.get('devices', r['ranks']))} | {int(r['batch_per_rank'])} | "
                  f"{int(r['global_batch'])} | {r['images_per_second']:.0f} | {r.get('speedup', 0):.2f} | "
                  f"{r['efficiency']:.2f} | {r['compute_s']:.2f} | {r['communication_s']:.3f} | {r['data_s']:.3f} | "
                  f"{r.get('step_ms', 0):.1f} |")
    return md


def md_model(st):
    md = ["", "## The model", "",
          "One step on p ranks: t(p) = t_compute(b) + t_allreduce(p, n), n = "
          f"{st.args.gradient_floats} floats = {st.n_bytes / 1e6:.2f} MB; images/s = p·b / t(p).", "",
          "| parameter | value | where it comes from |", "| --- | --- | --- |",
          f"| CPU t_compute(b) | {st.c0 * 1e3:.2f} ms + {st.c1 * 1e3:.3f} ms × b | measured: {st.fit_how} |",
          f"| CPU all-reduce within a node | α = {st.a_shm / US:.1f} µs, β = {st.b_shm / GB:.2f} GB/s, {st.per_node} ranks/node | {st.mpi_how} |",
          f"| CPU all-reduce between nodes | α = {st.a_ib / US:.1f} µs, β = {IB_HDR_PORT / GB:.0f} GB/s | InfiniBand HDR 200 Gb/s per port (published); α assumed |",
          f"| GPU t_compute(b) | {st.g0 * 1e3:.2f} ms + {st.g1 * 1e6:.2f} µs × b | {st.gpu_how} |",
          f"| GPU all-reduce within a node | α = {st.a_nv / US:.1f} µs, β = {NVLINK4_PER_DIRECTION / GB:.0f} GB/s per direction, "
          f"{GPUS_PER_NODE} GPUs on NVSwitch | H100 SXM NVLink 4: 900 GB/s bidirectional (published); α assumed |",
          f"| GPU all-reduce between nodes | α = {st.a_ib / US:.1f} µs, β = {IB_NDR_PORT / GB:.0f} GB/s per GPU | "
          "InfiniBand NDR 400 Gb/s, one ConnectX-7 per GPU (published); α assumed |",
          f"| GPU all-reduce call | {st.call / US:.0f} µs per call | assumed (kernel launch, stream synchronisation) |", "",
          "All-reduce: ring 2(p-1)α + 2(p-1)/p·n/β; tree 2⌈log2 p⌉α + 2n/β; hierarchical = reduce-scatter in the "
          "node + the cheaper of ring and tree between nodes on n/g per rail + all-gather in the node. Bandwidths "
          "are link peaks (what nccl-tests calls bus bandwidth can reach at best), so the communication times are "
          "optimistic; the latencies are assumptions of a few µs per message step.", ""]
    md += ["Published figures used (not measured here):", ""]
    md += [f"- {name}, <{url}>: {what}" for name, url, what in SOURCES]
    md += [""] + [f"Note: {n}" for n in st.notes] + ([""] if st.notes else [])
    return md


def md_projection_table(pts):
    lines = ["| ranks | batch/rank | global | compute ms | all-reduce ms | step ms | images/s | efficiency | comm share | steps/epoch |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for q in pts:
        lines.append(f"| {q['ranks']} | {q['batch_per_rank']:g} | {q['global_batch']:g} | {q['compute_ms']:.3f} | "
                     f"{q['allreduce_ms']:.3f} | {q['step_ms']:.3f} | {q['images_per_second']:.0f} | "
                     f"{q['efficiency']:.2f} | {q['comm_share']:.0%} | {q['steps_per_epoch']} |")
    return lines


def md_projection(st, curves):
    md = ["## Projection", ""]
    for system, title in (("cpu", "CPU ranks like this machine's"), ("gpu", st.gpu_label)):
        for mode in ("weak", "strong"):
            md += [f"### {title}: {mode} scaling", ""] + md_projection_table(curves[(system, mode)]) + [""]
    return md


def md_weak_per_epoch(st, gw):
    """The weak-scaling bullet: efficient per step, but an epoch shrinks to a few steps."""
    last_w = gw[-1]
    under2 = first(gw, lambda q: q["steps_per_epoch"] <= 2)
    under10 = first(gw, lambda q: q["steps_per_epoch"] <= 10)
    return (f"- **Weak scaling looks fine per step and is useless per epoch.** With {int(st.weak_b)} images per rank, "
            f"{last_w['ranks']} GPUs keep {last_w['efficiency']:.0%} efficiency on the step, but the global batch is "
            f"{int(last_w['global_batch'])} and an epoch of {st.args.train_images} images is {last_w['steps_per_epoch']} "
            f"steps" + (f"; from {under10['ranks']} ranks (global batch {int(under10['global_batch'])}) an epoch is "
                        f"≤ 10 steps" if under10 else "")
            + (f", from {under2['ranks']} ranks ≤ 2" if under2 else "") + ". "
            "Training then needs many more epochs to reach the same accuracy — large-batch training needs the "
            "learning rate scaled with warm-up (Goyal et al. 2017, batch 8192 on ImageNet) and degrades beyond; "
            "per-epoch work (validation, BatchNorm statistics, start-up) stays, so time to accuracy stops improving "
            "long before the images/s curve bends.")


def md_strong(st, gs, cw):
    """The strong-scaling bullet: the per-rank batch shrinks, the fixed cost stays."""
    last_s = gs[-1]
    half_s = first(gs, lambda q: q["efficiency"] < 0.5)
    half_cpu = first(cw, lambda q: q["efficiency"] < 0.5)
    return (f"- **Strong scaling ends at a few GPUs.** With a global batch of {int(st.strong_g)}, the per-rank batch "
            "shrinks while the fixed cost per step stays: "
            + (f"efficiency drops below 50 % at {half_s['ranks']} GPUs (batch {half_s['batch_per_rank']:g} per GPU)"
               if half_s else f"efficiency is {last_s['efficiency']:.2f} at {last_s['ranks']} GPUs")
            + (f"; on CPU ranks like this machine's, below 50 % weak-scaling efficiency at {half_cpu['ranks']} ranks"
               if half_cpu else f"; CPU ranks, whose compute is large, keep {cw[-1]['efficiency']:.0%} weak-scaling "
               f"efficiency at {cw[-1]['ranks']} ranks")
            + ".")


def md_conclusions(st, curves):
    """Where it stops scaling: read off the curves."""
    gw, gs, cw = curves[("gpu", "weak")], curves[("gpu", "strong")], curves[("cpu", "weak")]
    last_w = gw[-1]
    ring_w = curves[("gpu_ring", "weak")][-1]
    n_bytes = st.n_bytes
    return ["## Where MNIST stops scaling, and why", "",
            f"- **The model is tiny.** {st.args.gradient_floats} parameters: a {n_bytes / 1e6:.2f} MB gradient and "
            f"{st.flops_img / 1e6:.0f} MFLOP per image per step. On a GPU one step at batch {int(st.weak_b)} is "
            f"{gw[0]['compute_ms']:.2f} ms{' (assumed)' if st.gpu_assumed else ''}, most of it fixed launch cost, so there "
            "is little compute to hide communication behind.",
            f"- **The all-reduce is latency-bound.** At {last_w['ranks']} GPUs the hierarchical all-reduce of "
            f"{n_bytes / 1e6:.2f} MB takes {last_w['allreduce_ms']:.3f} ms ({last_w['comm_share']:.0%} of the step); "
            f"at {NVLINK4_PER_DIRECTION / GB:.0f} GB/s the bytes alone need {n_bytes / NVLINK4_PER_DIRECTION * 1e6:.1f} µs, "
            "the rest is per-message latency. A flat ring over InfiniBand, 2(p-1) latency steps, takes "
            f"{ring_w['allreduce_ms']:.3f} ms at {ring_w['ranks']} ranks (weak efficiency {ring_w['efficiency']:.2f} "
            f"against {last_w['efficiency']:.2f} for the hierarchical tree).",
            md_weak_per_epoch(st, gw),
            md_strong(st, gs, cw),
            "- **Conclusion.** MNIST at this model size is a one-GPU (or one-node) problem: the data set is "
            "small enough to fit and be augmented on one device, and more ranks buy images/s but not a shorter "
            "time to a trained model. The scaling machinery is exercised here so that it is right for the models "
            "that need it.", ""]


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    st = Setup(root, parse_args(root))
    cpu_model(st)
    gpu_model(st)
    curves = project_curves(st)
    files = write_plots(st, curves)
    write_projection_csv(st, curves)
    md = md_measured(st, files) + md_model(st) + md_projection(st, curves) + md_conclusions(st, curves)
    out_dir = st.args.out_dir
    with open(os.path.join(out_dir, "scaling.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"wrote {files['images_per_second']}, {files['efficiency']}, "
          f"{os.path.join(out_dir, 'scaling.md')}, {os.path.join(out_dir, 'projection.csv')}")


if __name__ == "__main__":
    main()

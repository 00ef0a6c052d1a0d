#!/usr/bin/env python3
"""bench_torch.py OUT ROUNDS — the PyTorch side-by-side rounds of a bench.sh run as one file.

scripts/bench.sh alternates, ROUNDS times, bench_cpu's training step at batch 128
(OUT/bench_cpu_pair_rN.json, Google Benchmark JSON) and the same network in
PyTorch on the CPU (OUT/torch_cpu_rN.json, from bench/torch_seed_cnn.py), on the
same threads. This reads them and writes OUT/torch_cpu.json: per round the
images/s of both, PyTorch in channels_last and NCHW, the ratio mnist_ddp /
PyTorch, the load average at the start of each run; the median of each column
and of the ratios; what ran (torch, its oneDNN and CPU capability, bench_cpu's
oneDNN, BLAS and threads). Exit 1 when a round is missing or the two sides ran
on different thread counts. Kept out of bench.sh so that it can be read and
re-run on an existing results folder; bench_summary.py makes the table from it.
"""
import json
import os
import statistics
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def train_step(doc):
    """bench_cpu's BM_TrainStep/128 row (the iteration row, not an aggregate)."""
    for b in doc["benchmarks"]:
        if b["name"].startswith("BM_TrainStep/128") and b.get("run_type", "iteration") == "iteration":
            return b
    raise SystemExit("bench_torch.py: no BM_TrainStep/128 row in the bench_cpu JSON")


def torch_rate(doc, layout):
    rates = [r["images_per_second"] for r in doc["runs"] if r["mode"] == "eager" and r["layout"] == layout]
    return rates[0] if rates else None


def ratio(a, b):
    return a / b if a and b else None


def one_round(out, n):
    ours_doc = load(os.path.join(out, f"bench_cpu_pair_r{n}.json"))
    theirs = load(os.path.join(out, f"torch_cpu_r{n}.json"))
    ours = train_step(ours_doc)["images/s"]
    cl, nchw = torch_rate(theirs, "channels_last"), torch_rate(theirs, "nchw")
    load_avg = ours_doc["context"].get("load_avg", [])
    return {"round": n, "bench_cpu_images_per_second": ours,
            "torch_channels_last_images_per_second": cl, "torch_nchw_images_per_second": nchw,
            "ratio_vs_channels_last": ratio(ours, cl), "ratio_vs_nchw": ratio(ours, nchw),
            "bench_cpu_threads": int(ours_doc["context"]["threads"]), "torch_threads": theirs["threads"],
            "load_average_bench_cpu": " ".join(f"{x:.2f}" for x in load_avg),
            "load_average_torch": theirs.get("load_average")}, ours_doc["context"], theirs


def median_of(rounds, key):
    values = [r[key] for r in rounds if r[key] is not None]
    return statistics.median(values) if values else None


def main():
    out, count = sys.argv[1], int(sys.argv[2])
    rounds, ctx, torch_doc = [], None, None
    for n in range(1, count + 1):
        r, ctx, torch_doc = one_round(out, n)
        if r["bench_cpu_threads"] != r["torch_threads"]:
            raise SystemExit(f"bench_torch.py: round {n}: bench_cpu ran on {r['bench_cpu_threads']} threads, "
                             f"PyTorch on {r['torch_threads']}: not side by side")
        rounds.append(r)
    keys = ["bench_cpu_images_per_second", "torch_channels_last_images_per_second", "torch_nchw_images_per_second",
            "ratio_vs_channels_last", "ratio_vs_nchw"]
    with open("/proc/uptime") as f:
        uptime_s = float(f.read().split()[0])
    result = {
        "what": "bench_cpu BM_TrainStep/128 (augmentation, forward, loss, backward, Adam) and "
                "bench/torch_seed_cnn.py --device cpu (forward, loss, backward, Adam; no augmentation), "
                "alternated A B per round, same threads, batch 128",
        "threads": rounds[0]["bench_cpu_threads"],
        "bench_cpu": {k: ctx.get(k) for k in ("onednn", "blas", "OPENBLAS_CORETYPE", "mhz_per_cpu", "num_cpus")},
        "torch": {k: torch_doc.get(k) for k in ("torch", "onednn", "mkldnn_available", "cpu_capability", "cpu",
                                               "trainable_parameters", "data")},
        "torch_steps_per_layout": torch_doc["runs"][0]["timed_steps"],
        "uptime_at_end_s": uptime_s,
        "rounds": rounds,
        "median": {k: median_of(rounds, k) for k in keys},
    }
    path = os.path.join(out, "torch_cpu.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    m = result["median"]
    print(f"bench_torch.py: median of {count} rounds: bench_cpu {m['bench_cpu_images_per_second']:.0f} images/s, "
          f"torch channels_last {m['torch_channels_last_images_per_second']:.0f}, "
          f"NCHW {m['torch_nchw_images_per_second']:.0f}; "
          f"ratio {m['ratio_vs_channels_last']:.2f} / {m['ratio_vs_nchw']:.2f}; wrote {path}")


if __name__ == "__main__":
    main()

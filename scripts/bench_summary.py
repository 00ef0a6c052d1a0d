#!/usr/bin/env python3
"""bench_summary.py OUT — the Markdown tables of a scripts/bench.sh run.

Reads the Google Benchmark JSON files that bench.sh wrote into OUT
(bench_cpu*.json, bench_allreduce_np*.json, bench_cuda_np*.json), the
PyTorch side by side (torch_cpu.json, from bench_torch.py) and machine.txt, and
writes OUT/summary.md: CPU training step and sgemm ceiling, augmentation,
per-layer tables, the training step beside PyTorch's per round, all-reduce
times and bus bandwidth, GPU rows.
Kept out of bench.sh so that it can be read, linted and run on its own
(e.g. to redo the summary of an existing results folder).
"""
import glob, json, os, re, sys

out = sys.argv[1]
def load(name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else None

def rows(doc, pattern):
    return [b for b in doc["benchmarks"] if re.search(pattern, b["name"]) and b.get("run_type", "iteration") == "iteration"]

def ms(b):
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
    return b["real_time"] * scale

def f(x, digits=1):
    return "—" if x is None else f"{x:,.{digits}f}".replace(",", " ")

def layer_table(doc, prefix, ceiling):
    fwd = {b["name"].split("/")[1]: b for b in rows(doc, rf"^{prefix}Forward/")}
    bwd = {b["name"].split("/")[1]: b for b in rows(doc, rf"^{prefix}Backward/")}
    if not fwd:
        return []
    out = ["", f"Per layer at batch {doc['context'].get('layer_batch')} (GEMM layers: % of the {ceiling} ceiling; "
               "others: GB/s of minimum traffic):", "",
           f"| layer | forward ms | GFLOP/s | % {ceiling} / GB/s | backward ms | GFLOP/s | % {ceiling} / GB/s |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    def third(b):
        return f"{f(b['%_of_sgemm'])} %" if "%_of_sgemm" in b else f"{f(b.get('GB/s'))} GB/s"
    for key in sorted(fwd):
        a, b = fwd[key], bwd.get(key)
        out.append(f"| {key} | {f(ms(a), 3)} | {f(a.get('GFLOP/s'))} | {third(a)} | "
                   f"{f(ms(b), 3) if b else '—'} | {f(b.get('GFLOP/s')) if b else '—'} | {third(b) if b else '—'} |")
    return out

lines = ["# Benchmark summary", ""]
machine = open(os.path.join(out, "machine.txt")).read().strip().splitlines()
lines += ["Machine and command (`machine.txt`):", ""] + [f"    {l}" for l in machine] + [""]

cpu = load("bench_cpu.json")
if cpu:
    ctx = cpu["context"]
    lines += [f"## CPU (`bench_cpu.json`): {ctx.get('threads')} threads, {ctx.get('onednn')}, "
              f"ceiling {ctx.get('sgemm', ctx.get('blas'))}", ""]
    if ctx.get("conv_algorithm"):
        lines += [f"Convolutions: `--conv-algorithm {ctx['conv_algorithm']}`. GFLOP/s count the direct "
                  "convolution's multiply-adds (bench/layer_flops.hpp) for every algorithm, so they are "
                  "effective rates: a Winograd layer does 2.25–4x fewer multiplications and can pass "
                  "100 % of the sgemm ceiling.", ""]
    lines += ["| kernel | sgemm 1024³ GFLOP/s | training step | images/s | GFLOP/s | % of sgemm |", "| --- | --- | --- | --- | --- | --- |"]
    for name in ("bench_cpu.json", "bench_cpu_native.json"):  # _native: older runs' OpenBLAS default kernel
        doc = load(name)
        if not doc:
            continue
        # The kernel: oneDNN's ISA; in older runs (the dense layers on OpenBLAS) OpenBLAS's kernel.
        kernel = re.search(r"kernel (\w+)", doc["context"].get("blas", "")) or re.search(r"ISA (\w+)", doc["context"].get("onednn", ""))
        kernel = kernel.group(1) if kernel else "?"
        sg = rows(doc, r"^BM_Sgemm/")
        for b in rows(doc, r"^BM_TrainStep/"):
            batch = b["name"].split("/")[1]
            lines.append(f"| {kernel} (`{name}`) | {f(sg[0]['GFLOP/s']) if sg else '—'} | batch {batch}, {f(ms(b))} ms | "
                         f"{f(b.get('images/s'))} | {f(b.get('GFLOP/s'))} | {f(b.get('%_of_sgemm'))} |")
    aug = rows(cpu, r"^BM_Augment/")
    if aug:
        lines += ["", "| augmentation batch | time | images/s |", "| --- | --- | --- |"]
        for b in aug:
            lines.append(f"| {b['name'].split('/')[1]} | {f(ms(b), 3)} ms | {f(b.get('images/s'), 0)} |")
    lines += layer_table(cpu, "BM_Layer", "sgemm")

torch_cpu = load("torch_cpu.json")
if torch_cpu and "skipped" in torch_cpu:
    lines += ["", "## PyTorch side by side (`torch_cpu.json`): NOT RUN", "", torch_cpu["skipped"]]
elif torch_cpu:
    t, m = torch_cpu["torch"], torch_cpu["median"]
    lines += ["", f"## PyTorch side by side (`torch_cpu.json`): batch 128, {torch_cpu['threads']} threads", "",
              f"PyTorch {t['torch']} (oneDNN {t['onednn']}, CPU capability {t['cpu_capability']}, "
              f"{t['trainable_parameters']} trainable parameters) against bench_cpu's BM_TrainStep/128 "
              f"(oneDNN {torch_cpu['bench_cpu'].get('onednn')}), alternated in each round; "
              f"{torch_cpu['torch_steps_per_layout']} timed PyTorch steps per layout. "
              "The machine's load varies: the ratio is the figure.", "",
              "| round | mnist_ddp images/s | PyTorch channels_last | PyTorch NCHW | ratio vs channels_last | "
              "ratio vs NCHW | load average (bench_cpu / PyTorch) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in torch_cpu["rounds"]:
        lines.append(f"| {r['round']} | {f(r['bench_cpu_images_per_second'], 0)} | "
                     f"{f(r['torch_channels_last_images_per_second'], 0)} | {f(r['torch_nchw_images_per_second'], 0)} | "
                     f"{f(r['ratio_vs_channels_last'], 2)} | {f(r['ratio_vs_nchw'], 2)} | "
                     f"{r['load_average_bench_cpu']} / {r['load_average_torch']} |")
    lines.append(f"| median | {f(m['bench_cpu_images_per_second'], 0)} | {f(m['torch_channels_last_images_per_second'], 0)} | "
                 f"{f(m['torch_nchw_images_per_second'], 0)} | {f(m['ratio_vs_channels_last'], 2)} | "
                 f"{f(m['ratio_vs_nchw'], 2)} | |")

ar = sorted(glob.glob(os.path.join(out, "bench_allreduce_np*.json")) + glob.glob(os.path.join(out, "bench_cuda_np*.json")),
            key=lambda p: (os.path.basename(p).split("_np")[0], int(re.search(r"np(\d+)", p).group(1))))
if ar:
    docs = [(os.path.basename(p).replace(".json", "").replace("bench_", ""), json.load(open(p))) for p in ar]
    lines += ["", "## All-reduce (time per call, max over ranks; busbw = 2(p-1)/p · bytes / t)", ""]
    header = "| size |" + "".join(f" {n} µs | busbw GB/s |" for n, _ in docs)
    lines += [f"Columns: {', '.join(f'`bench_{n}.json`' + (' (oversubscribed: distorted)' if 'oversubscribed' in d['context'] else '') for n, d in docs)}", "",
              header, "|---|" + "---|---|" * len(docs)]
    sizes = []
    for _, d in docs:
        for b in rows(d, r"^BM_Allreduce\w+/"):
            key = b["name"].split("/")[1]
            if key not in sizes:
                sizes.append(key)
    for key in sizes:
        cells = []
        for _, d in docs:
            b = next((b for b in rows(d, r"^BM_Allreduce\w+/") if b["name"].split("/")[1] == key), None)
            cells.append(f" {f(ms(b) * 1e3, 1)} | {f(b.get('busbw_GB/s'), 3)} |" if b else " — | — |")
        label = key.replace("bytes:", "") + " B" if key.startswith("bytes:") else "gradient (437 738 floats)"
        lines.append(f"| {label} |" + "".join(cells))

for name in sorted(glob.glob(os.path.join(out, "bench_cuda_np1.json"))):
    d = json.load(open(name))
    lines += ["", f"## GPU (`{os.path.basename(name)}`): {d['context'].get('gpu')}", "", "| GEMM | time ms | GFLOP/s |", "| --- | --- | --- |"]
    for b in rows(d, r"^BM_Cublas"):
        lines.append(f"| {b['name'].split('/manual')[0]} | {f(ms(b), 3)} | {f(b.get('GFLOP/s'), 0)} |")
    fb = rows(d, r"^BM_CudaForwardBackward/")
    if fb:
        lines += ["", "| forward + backward | time ms | images/s | GFLOP/s | % of cuBLAS FP32 |", "| --- | --- | --- | --- | --- |"]
        for b in fb:
            lines.append(f"| batch {b['name'].split('/')[1]} | {f(ms(b), 3)} | {f(b.get('images/s'), 0)} | "
                         f"{f(b.get('GFLOP/s'))} | {f(b.get('%_of_sgemm'))} |")
    lines += layer_table(d, "BM_CudaLayer", "cuBLAS FP32")

open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
print(f"wrote {os.path.join(out, 'summary.md')}")

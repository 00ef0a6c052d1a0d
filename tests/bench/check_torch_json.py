#!/usr/bin/env python3
"""check_torch_json.py DIR BENCH_TORCH_PY — what test_torch_side_by_side.sh checks in DIR.

torch_cpu_r1.json (bench/torch_seed_cnn.py): the parameter count, 1 thread, an
eager run per layout with positive images/s and a finite loss, torch's oneDNN
named. torch_cpu.json (scripts/bench_torch.py): the rows' images/s, the ratios
computed from them, the medians; summary.md has the table. Then a round whose
PyTorch side ran on other threads must make bench_torch.py fail.
"""
import json, math, os, subprocess, sys

out, bench_torch = sys.argv[1], sys.argv[2]
def load(name):
    return json.load(open(os.path.join(out, name)))

def check(cond, what):
    if not cond:
        sys.exit("check_torch_json.py: " + what)

raw = load("torch_cpu_r1.json")
check(raw["trainable_parameters"] == 437738, f"parameters {raw['trainable_parameters']}")
check(raw["threads"] == 1 and raw["device"] == "cpu", f"threads {raw['threads']}, device {raw['device']}")
check(raw["onednn"].startswith("v"), f"oneDNN not named: {raw['onednn']}")
check(sorted(r["layout"] for r in raw["runs"]) == ["channels_last", "nchw"], "not one run per layout")
for r in raw["runs"]:
    check(r["mode"] == "eager" and r["images_per_second"] > 0 and r["timed_steps"] == 2, f"run {r}")
    check(math.isfinite(r["final_loss"]) and r["final_loss"] > 0, f"loss {r['final_loss']}")

merged = load("torch_cpu.json")
rounds = merged["rounds"]
check(len(rounds) == 1 and merged["threads"] == 1, "one round on 1 thread")
r = rounds[0]
ours = next(b for b in load("bench_cpu_pair_r1.json")["benchmarks"] if b["name"].startswith("BM_TrainStep/128"))
check(r["bench_cpu_images_per_second"] == ours["images/s"], "bench_cpu images/s not the row's")
by_layout = {x["layout"]: x["images_per_second"] for x in raw["runs"]}
check(r["torch_channels_last_images_per_second"] == by_layout["channels_last"], "channels_last not the run's")
check(abs(r["ratio_vs_channels_last"] - ours["images/s"] / by_layout["channels_last"]) < 1e-9, "ratio")
check(abs(r["ratio_vs_nchw"] - ours["images/s"] / by_layout["nchw"]) < 1e-9, "ratio vs NCHW")
check(merged["median"]["ratio_vs_nchw"] == r["ratio_vs_nchw"], "median of one round")
summary = open(os.path.join(out, "summary.md")).read()
check("## PyTorch side by side" in summary and "| median |" in summary, "no PyTorch table in summary.md")

raw["threads"] = 2
json.dump(raw, open(os.path.join(out, "torch_cpu_r1.json"), "w"))
bad = subprocess.run([sys.executable, bench_torch, out, "1"], capture_output=True, text=True)
check(bad.returncode != 0 and "not side by side" in bad.stderr, f"thread mismatch accepted: {bad.stderr}")
print("check_torch_json.py: ok")

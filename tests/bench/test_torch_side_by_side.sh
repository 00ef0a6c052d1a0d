#!/usr/bin/env bash
# test_torch_side_by_side.sh — the PyTorch side by side of scripts/bench.sh on one
# tiny round (no timing assertions): bench_cpu's TrainStep/128 and
# bench/torch_seed_cnn.py --device cpu on 1 thread, merged by scripts/bench_torch.py
# (check_torch_json.py: the model's 437 738 parameters, both layouts, the threads,
# ratios and medians from the rows; rounds on different thread counts rejected), and
# the table in summary.md (scripts/bench_summary.py). Skipped (77) without PyTorch
# (scripts/setup.sh --bench installs it).
#   test_torch_side_by_side.sh BENCH_CPU SOURCE_DIR DATA_DIR
set -euo pipefail
bench_cpu=$1 root=$2 data=$3
python=/usr/bin/python3
[ -x "$python" ] || python=python3
if ! "$python" -c 'import torch' 2>/dev/null; then
  echo "SKIP: PyTorch is not installed for $python (scripts/setup.sh --bench installs python3-torch)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

MNIST_DDP_THREADS=1 "$bench_cpu" --benchmark_min_time=0.001 --benchmark_filter='BM_TrainStep/128' \
  --benchmark_out="$tmp/bench_cpu_pair_r1.json" --benchmark_out_format=json >"$tmp/bench_cpu.txt" 2>&1
MNIST_DDP_THREADS=1 "$python" "$root/bench/torch_seed_cnn.py" --device cpu --steps 2 --warmup 1 \
  --data-dir "$data" --json "$tmp/torch_cpu_r1.json" | tee "$tmp/torch.txt"
grep -q '^torch model: 437738 trainable parameters' "$tmp/torch.txt"
grep -q '^torch context: torch .*oneDNN v.*1 threads' "$tmp/torch.txt"
"$python" "$root/scripts/bench_torch.py" "$tmp" 1
echo "date: test" >"$tmp/machine.txt"
"$python" "$root/scripts/bench_summary.py" "$tmp"
"$python" "$(dirname "${BASH_SOURCE[0]}")/check_torch_json.py" "$tmp" "$root/scripts/bench_torch.py"

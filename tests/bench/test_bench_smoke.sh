#!/usr/bin/env bash
# test_bench_smoke.sh — the benchmark programs run and report what they claim
# (no timing assertions): bench_cpu's rows carry their counters, with FLOP counts
# consistent with the layer shapes; bench_allreduce on 2 ranks reports every size,
# the gradient row, and busbw = algbw · 2(p-1)/p.
#   test_bench_smoke.sh BENCH_CPU BENCH_ALLREDUCE MPIEXEC
set -euo pipefail
bench_cpu=$1 bench_allreduce=$2 mpiexec=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python=/usr/bin/python3
[ -x "$python" ] || python=python3
mpi_flags=(--oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi_flags+=(--allow-run-as-root)

MNIST_DDP_THREADS=1 "$bench_cpu" --benchmark_min_time=0.001 \
  --benchmark_filter='Augment/64|TrainStep/64|LayerForward/0[0-2]_|LayerBackward/(00|17)_|LayerForward/16_' \
  --benchmark_out="$tmp/cpu.json" --benchmark_out_format=json >"$tmp/cpu.txt" 2>&1
"$mpiexec" "${mpi_flags[@]}" -np 2 "$bench_allreduce" --benchmark_min_time=0.001 \
  --benchmark_filter='bytes:(4|4096|67108864)/|gradient' \
  --benchmark_out="$tmp/ar.json" --benchmark_out_format=json >"$tmp/ar.txt" 2>&1

"$python" "$(dirname "${BASH_SOURCE[0]}")/check_bench_json.py" "$tmp/cpu.json" "$tmp/ar.json"

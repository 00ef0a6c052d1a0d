#!/usr/bin/env bash
# bench.sh — build (Release) and run every benchmark; JSON, logs and a summary
# into results/bench/.
#
#   scripts/bench.sh           # CPU: layers, augmentation, training step, sgemm ceiling (oneDNN);
#                              # the training step beside PyTorch's (3 rounds);
#                              # MPI all-reduce (host memory) on 2 and 4 ranks
#   scripts/bench.sh --gpu     # and bench_cuda (cuBLAS ceiling, NCCL all-reduce on device
#                              # memory) on 1 GPU and on all GPUs of the node, when there are any
#
# Options:
#   --out DIR          where the results go (default results/bench)
#   --build-dir DIR    the build directory (default $BUILD_DIR or build)
#   --min-time S       Google Benchmark's minimum time per row in seconds (default 1;
#                      0.01 for a smoke run)
#   --ranks "2 4"      rank counts of the MPI all-reduce benchmark (default "2 4"; more
#                      ranks than cores are run oversubscribed and say so in their context)
#   --mpirun "CMD"     launcher prefix that takes the rank count as its next word
#                      (default "mpirun --oversubscribe --bind-to none [--allow-run-as-root] -np";
#                      under Slurm e.g. "srun -n")
#   --filter REGEX     only these bench_cpu rows (default: all)
#   --torch-rounds N   rounds of the PyTorch side by side (default 3; 0: not run)
#   --torch-steps N    PyTorch's timed steps per layout and round (default 40)
#   --gpu              also the CUDA benchmarks (skipped, saying why, without a GPU)
#   --no-build         use the binaries already in the build directory
#
# What ran: the JSON context of bench_cpu names oneDNN's version and ISA ("onednn"), each
# primitive's implementation ("onednn_primitives") and the ceiling's GEMM ("sgemm": oneDNN's
# dnnl_sgemm). OPENBLAS_CORETYPE no longer matters: nothing in the training step or the ceiling
# runs OpenBLAS since the dense layers moved onto oneDNN's inner product (earlier runs, with
# their bench_cpu_native.* for OpenBLAS's own kernel choice, are in results/).
#
# PyTorch side by side: each round runs bench_cpu's BM_TrainStep/128 (min time
# 5 x --min-time), then bench/torch_seed_cnn.py --device cpu (the same network,
# batch 128, forward + loss + backward + Adam, in channels_last and in NCHW), both
# on $MNIST_DDP_THREADS threads (default: every core). It needs Debian's
# python3-torch (scripts/setup.sh --bench installs it); without it bench.sh says
# so, writes the reason into torch_cpu.json and summary.md, and runs the rest.
#
# Writes into DIR:
#   machine.txt                       date, host, CPU model (family, model, vector ISA) and
#                                     cores, memory, compiler, MPI, git commit ("with local
#                                     changes" when a tracked file outside DIR differs), this command
#   bench_cpu.json, .txt              bench_cpu (--benchmark_out JSON; console log)
#   bench_cpu_pair_rN.json, .txt      the PyTorch side by side, round N: bench_cpu TrainStep/128
#   torch_cpu_rN.json, .txt           ... and PyTorch (torch_seed_cnn.py --json; console log)
#   torch_cpu.json                    the rounds, ratios and medians (scripts/bench_torch.py),
#                                     or {"skipped": reason}
#   bench_allreduce_npN.json, .txt    the MPI all-reduce on N ranks
#   bench_cuda_npN.json, .txt         (--gpu) the GPU ceilings and NCCL on N GPUs
#   summary.md                        the tables, read from the JSON files above
# Exit status: 0 when every benchmark ran, 1 when one failed, 2 on bad arguments.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/results/bench
build_dir=${BUILD_DIR:-$root/build}
min_time=1
ranks_list="2 4"
filter=""
torch_rounds=3
torch_steps=40
gpu=0
build=1
mpirun_cmd=""

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "bench.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
    --min-time) min_time=${2:?--min-time needs seconds}; shift 2 ;;
    --ranks) ranks_list=${2:?--ranks needs a list}; shift 2 ;;
    --mpirun) mpirun_cmd=${2:?--mpirun needs a command}; shift 2 ;;
    --filter) filter=${2:?--filter needs a regex}; shift 2 ;;
    --torch-rounds) torch_rounds=${2:?--torch-rounds needs a count}; shift 2 ;;
    --torch-steps) torch_steps=${2:?--torch-steps needs a count}; shift 2 ;;
    --gpu) gpu=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ $min_time =~ ^[0-9]*\.?[0-9]+$ ]] || die "--min-time must be a number of seconds, not '$min_time'"
for n in $ranks_list; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "--ranks: '$n' is not a rank count"; done
[[ $torch_rounds =~ ^[0-9]+$ ]] || die "--torch-rounds must be a count (0: not run), not '$torch_rounds'"
[[ $torch_steps =~ ^[1-9][0-9]*$ ]] || die "--torch-steps must be a positive count, not '$torch_steps'"
if [ -z "$mpirun_cmd" ]; then
  mpirun_cmd="mpirun --oversubscribe --bind-to none"
  [ "$(id -u)" -eq 0 ] && mpirun_cmd+=" --allow-run-as-root"
  mpirun_cmd+=" -np"
fi
read -r -a launcher <<<"$mpirun_cmd"
python=/usr/bin/python3
[ -x "$python" ] || python=python3

# ---- build ------------------------------------------------------------------------
targets=(bench_cpu bench_allreduce)
if [ "$build" -eq 1 ]; then
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    generator=()
    command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
    cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release
  fi
  build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
  [ "$build_type" = Release ] || die "$build_dir is a '$build_type' build: benchmarks need Release (use --build-dir)"
  cmake --build "$build_dir" --target "${targets[@]}" --parallel "$(nproc)"
  if [ "$gpu" -eq 1 ]; then
    if cmake --build "$build_dir" --target help | grep -q 'bench_cuda'; then
      cmake --build "$build_dir" --target bench_cuda --parallel "$(nproc)"
    else
      echo "bench.sh: no bench_cuda target in $build_dir (configured without the CUDA backend)" >&2
    fi
  fi
fi
bench_dir=$build_dir/bench
for t in "${targets[@]}"; do [ -x "$bench_dir/$t" ] || die "$bench_dir/$t not found (build it, or drop --no-build)"; done

# ---- the machine ------------------------------------------------------------------
# The tree the binaries come from: HEAD, and whether a tracked file other than this
# run's own output (an earlier run's, in the repository) differs from it.
out_rel=$(realpath -m --relative-to="$root" "$out")
git_state=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git_paths=(.)
case $out_rel in ..*) ;; *) git_paths+=(":(exclude)$out_rel") ;; esac
git -C "$root" diff --quiet HEAD -- "${git_paths[@]}" 2>/dev/null || git_state+=" (with local changes)"
mkdir -p "$out"
cores=$(nproc)
cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
# The CPU's family and model (a model name like "AMD EPYC" names no generation) and its widest vector ISA.
cpu_id=$(awk -F': *' '/^cpu family/ {f = $2} /^model\t/ {m = $2} /^flags/ {
  isa = "no avx2"; if ($2 ~ / avx2( |$)/) isa = "avx2, no avx512"
  if ($2 ~ / avx512f( |$)/) { isa = "avx512f"; if ($2 ~ / avx512_bf16( |$)/) isa = isa ", avx512_bf16" }
  printf "family %s, model %s; %s", f, m, isa; exit }' /proc/cpuinfo 2>/dev/null)
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(hostname)"
  echo "cpu: ${cpu_model:-unknown}${cpu_id:+ ($cpu_id)}"
  echo "cores: $cores (nproc); sockets: $(lscpu 2>/dev/null | sed -n 's/^Socket(s): *//p')"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "compiler: $(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build_dir/CMakeCache.txt") $(c++ -dumpfullversion 2>/dev/null || true)"
  echo "mpi: $(mpirun --version 2>/dev/null | head -n 1 || echo unknown)"
  echo "gpus: $(nvidia-smi -L 2>/dev/null | wc -l)"
  echo "git: $git_state"
  # shellcheck disable=SC2016  # single quotes inside the text, not an expansion
  echo "command: scripts/bench.sh --min-time $min_time --ranks \"$ranks_list\"${filter:+ --filter '$filter'} --torch-rounds $torch_rounds --torch-steps $torch_steps$([ "$gpu" -eq 1 ] && echo ' --gpu')"
} >"$out/machine.txt"
cat "$out/machine.txt"

failed=0
row_min_time=$min_time
# run NAME COMMAND...: the console output into NAME.txt, JSON into NAME.json.
run() {
  local name=$1
  shift
  echo "== $name: $*"
  if "$@" --benchmark_min_time="$row_min_time" --benchmark_color=false --benchmark_counters_tabular=false \
       --benchmark_out="$out/$name.json" --benchmark_out_format=json 2>&1 | tee "$out/$name.txt"; then
    :
  else
    echo "bench.sh: $name failed" >&2
    failed=1
  fi
}

# ---- CPU ---------------------------------------------------------------------------
rm -f "$out"/bench_cpu*.json "$out"/bench_allreduce_np*.json "$out"/bench_cuda_np*.json \
  "$out"/torch_cpu*.json "$out"/torch_cpu_r*.txt "$out"/bench_cpu_pair_r*.txt
run bench_cpu "$bench_dir/bench_cpu" ${filter:+--benchmark_filter="$filter"}

# ---- PyTorch side by side (CPU) ----------------------------------------------------
# torch_round N: bench_cpu's training step at batch 128, then PyTorch's, same threads.
torch_round() {
  echo "== PyTorch side by side, round $1 of $torch_rounds: $(uptime)"
  row_min_time=$(awk -v t="$min_time" 'BEGIN { print 5 * t }')
  MNIST_DDP_THREADS=$torch_threads run "bench_cpu_pair_r$1" "$bench_dir/bench_cpu" --benchmark_filter='BM_TrainStep/128'
  row_min_time=$min_time
  echo "== torch_cpu_r$1: torch_seed_cnn.py --device cpu --threads $torch_threads --steps $torch_steps"
  if ! "$python" "$root/bench/torch_seed_cnn.py" --device cpu --mode eager --layout both --threads "$torch_threads" \
       --steps "$torch_steps" --warmup 5 --data-dir "${MNIST_DDP_DATA_DIR:-$root/data/mnist}" \
       --json "$out/torch_cpu_r$1.json" 2>&1 | tee "$out/torch_cpu_r$1.txt"; then
    echo "bench.sh: torch_cpu_r$1 failed" >&2
    return 1
  fi
}
torch_threads=${MNIST_DDP_THREADS:-$cores}
if [ "$torch_rounds" -gt 0 ]; then
  if ! torch_error=$("$python" -c 'import torch' 2>&1); then
    reason="PyTorch is not installed for $python ($(echo "$torch_error" | tail -n 1)); scripts/setup.sh --bench installs Debian's python3-torch"
    echo "bench.sh: PyTorch side by side NOT RUN: $reason" >&2
    "$python" -c 'import json, sys; json.dump({"skipped": sys.argv[2]}, open(sys.argv[1], "w"), indent=1)' \
      "$out/torch_cpu.json" "$reason"
  else
    torch_ok=1
    for r in $(seq 1 "$torch_rounds"); do torch_round "$r" || torch_ok=0; done
    if [ "$torch_ok" -eq 1 ]; then
      "$python" "$root/scripts/bench_torch.py" "$out" "$torch_rounds" || failed=1
    else
      failed=1
    fi
  fi
fi

for n in $ranks_list; do
  run "bench_allreduce_np$n" "${launcher[@]}" "$n" "$bench_dir/bench_allreduce"
done

# ---- GPU ---------------------------------------------------------------------------
if [ "$gpu" -eq 1 ]; then
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
  if [ ! -x "$bench_dir/bench_cuda" ]; then
    echo "bench.sh: --gpu: $bench_dir/bench_cuda does not exist (no CUDA backend in this build): skipped" >&2
  elif [ "${gpus:-0}" -eq 0 ]; then
    echo "bench.sh: --gpu: no GPU here (nvidia-smi -L lists none): bench_cuda skipped" >&2
  else
    for n in $(printf '%s\n' 1 "$gpus" | sort -nu); do
      run "bench_cuda_np$n" "${launcher[@]}" "$n" "$bench_dir/bench_cuda"
    done
  fi
fi

# ---- summary -----------------------------------------------------------------------
"$python" "$root/scripts/bench_summary.py" "$out" || failed=1
exit "$failed"

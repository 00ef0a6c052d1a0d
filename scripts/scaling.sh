#!/usr/bin/env bash
# scaling.sh — data-parallel scaling sweep: training for a fixed number of steps
# over several rank counts, in weak and/or strong scaling; one CSV row per run.
#
#   scripts/scaling.sh                                   # CPU, weak + strong, 1, 2, 4, ... ranks up to the cores
#   scripts/scaling.sh --mode weak --ranks "1 2" --steps 40 --out results/scaling_weak.csv
#   scripts/scaling.sh --device cuda                     # 1, 2, 4, ... ranks up to the GPUs, one GPU each
#   scripts/scaling.sh --mpirun "srun -n" ...            # inside a Slurm allocation (jobs/scaling_sweep.sbatch)
#
# Arguments (all optional):
#   --mode weak|strong|both  weak: the per-rank batch is fixed (global batch = ranks × B);
#                            strong: the global batch is fixed (per rank = B / ranks, which
#                            must divide). Default both.
#   --ranks "1 2 4"          rank counts. Default 1, 2, 4, … up to the cores / --threads
#                            (CPU) or up to the GPUs (nvidia-smi -L) with --device cuda.
#   --batch B                per-rank batch (weak) or global batch (strong). Default 64 (weak)
#                            and 64 × the largest rank count (strong).
#   --steps S                training steps per run (default 40). The run trains on the
#                            first S × global-batch images, one epoch, no validation split,
#                            so it takes exactly S steps; S × global batch must be ≤ 60 000.
#   --threads T              CPU threads per rank (default 1 on the CPU: a rank per core;
#                            with --device cuda the program's default).
#   --device cpu|cuda        where each rank trains (default cpu). devices in the CSV are
#                            the cores (ranks × threads) or the GPUs (ranks) in use.
#   --out CSV                output (default results/scaling.csv); the programs' output and
#                            the commands go to CSV's name with .log.
#   --mpirun "CMD"           launcher prefix that takes the rank count as its next word
#                            (default "mpirun --oversubscribe --bind-to none
#                            [--allow-run-as-root] -np"; Slurm: "srun -n").
#   --bin PATH               the program (default build/mnist_ddp, or $MNIST_DDP_BIN)
#   --data-dir DIR           MNIST (default data/mnist)
#   --keep-reports DIR       keep each run's JSON report there (default: discarded)
#   -- ARGS...               further arguments for every run (e.g. -- --bucket-kb 256)
#
# CSV columns:
#   mode,ranks,devices,threads_per_rank,batch_per_rank,global_batch,steps,
#   images_per_second,speedup,efficiency,compute_s,communication_s,data_s,step_ms,nodes
# images_per_second is the program's train_images_per_second (training steps only);
# speedup = r0 · ips(p) / ips(r0) against the smallest rank count r0 of the same mode
# (1 by default); efficiency = speedup / p, i.e. ips(p) / (p · ips(1)) — for weak
# scaling the per-rank throughput kept, for strong the usual speedup / p.
# compute_s / communication_s / data_s are rank 0's time split of the run
# (time_seconds of the report; communication includes waiting for slower ranks);
# step_ms = 1000 × global batch / images per second; nodes: how many nodes (host
# names in the report) the run's ranks were on.
# Exit status: 0, 1 when a run failed, 2 on bad arguments.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=both
ranks_list=""
batch=""
steps=40
threads=""
device=cpu
out=$root/results/scaling.csv
mpirun_cmd=""
bin=${MNIST_DDP_BIN:-$root/build/mnist_ddp}
data_dir=$root/data/mnist
keep_reports=""
extra=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "scaling.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --mode) mode=${2:?--mode needs weak, strong or both}; shift 2 ;;
    --ranks) ranks_list=${2:?--ranks needs a list}; shift 2 ;;
    --batch) batch=${2:?--batch needs a number}; shift 2 ;;
    --steps) steps=${2:?--steps needs a number}; shift 2 ;;
    --threads) threads=${2:?--threads needs a number}; shift 2 ;;
    --device) device=${2:?--device needs cpu or cuda}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --mpirun) mpirun_cmd=${2:?--mpirun needs a command}; shift 2 ;;
    --bin) bin=${2:?--bin needs a path}; shift 2 ;;
    --data-dir) data_dir=${2:?--data-dir needs a directory}; shift 2 ;;
    --keep-reports) keep_reports=${2:?--keep-reports needs a directory}; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, not '$2'"; }
case $mode in weak) modes=(weak) ;; strong) modes=(strong) ;; both) modes=(weak strong) ;; *) die "--mode must be weak, strong or both, not '$mode'" ;; esac
case $device in cpu|cuda) ;; *) die "--device must be cpu or cuda, not '$device'" ;; esac
positive --steps "$steps"
[ -z "$threads" ] || positive --threads "$threads"
[ -z "$batch" ] || positive --batch "$batch"
[ -x "$bin" ] || die "$bin is not an executable (build it: scripts/build.sh, or pass --bin)"
[ -d "$data_dir" ] || die "no data directory $data_dir (scripts/setup.sh fetches MNIST)"

cores=$(nproc)
if [ "$device" = cpu ]; then
  threads=${threads:-1}
  limit=$((cores / threads))
  [ "$limit" -ge 1 ] || limit=1
  what="cores/threads = $cores/$threads"
else
  limit=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
  [ "${limit:-0}" -ge 1 ] || die "--device cuda: nvidia-smi -L lists no GPU"
  what="GPUs"
fi
if [ -z "$ranks_list" ]; then
  ranks_list=""
  for ((p = 1; p <= limit; p *= 2)); do ranks_list+="$p "; done
fi
for p in $ranks_list; do positive "--ranks entry" "$p"; done
# shellcheck disable=SC2086  # a list of words
ranks_list=$(printf '%s\n' $ranks_list | sort -nu | tr '\n' ' ')  # ascending: the first is the baseline
max_ranks=1
for p in $ranks_list; do
  [ "$p" -gt "$max_ranks" ] && max_ranks=$p
  [ "$p" -le "$limit" ] || echo "scaling.sh: warning: $p ranks > $limit ($what): oversubscribed, the figures are distorted" >&2
done

if [ -z "$mpirun_cmd" ]; then
  mpirun_cmd="mpirun --oversubscribe --bind-to none"
  [ "$(id -u)" -eq 0 ] && mpirun_cmd+=" --allow-run-as-root"
  mpirun_cmd+=" -np"
fi
read -r -a launcher <<<"$mpirun_cmd"
python=/usr/bin/python3
[ -x "$python" ] || python=python3

# Check every run's size before starting any.
train_images=60000
for m in "${modes[@]}"; do
  for p in $ranks_list; do
    if [ "$m" = weak ]; then b=${batch:-64}; g=$((b * p)); else g=${batch:-$((64 * max_ranks))}; b=$((g / p)); fi
    [ "$m" = weak ] || [ $((b * p)) -eq "$g" ] || die "strong scaling: global batch $g is not divisible by $p ranks"
    [ "$b" -ge 1 ] || die "strong scaling: global batch $g leaves no image for each of $p ranks"
    [ $((steps * g)) -le $train_images ] ||
      die "$m, $p ranks: $steps steps × global batch $g = $((steps * g)) images > the $train_images MNIST training images (fewer --steps)"
  done
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=${out%.csv}.log
mkdir -p "$(dirname "$out")"
[ -z "$keep_reports" ] || mkdir -p "$keep_reports"
{
  echo "# scaling.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname): $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1), $cores cores"
  # (OPENBLAS_CORETYPE is not recorded any more: no OpenBLAS in the training step since the dense
  # layers run on oneDNN; each kept report names oneDNN's ISA and primitives.)
  echo "# git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "# mode=$mode ranks=\"$ranks_list\" batch=${batch:-default} steps=$steps threads=${threads:-default} device=$device"
} >"$log"
echo "mode,ranks,devices,threads_per_rank,batch_per_rank,global_batch,steps,images_per_second,speedup,efficiency,compute_s,communication_s,data_s,step_ms,nodes" >"$out"

failed=0
for m in "${modes[@]}"; do
  base_ranks=""
  base_ips=""
  for p in $ranks_list; do
    if [ "$m" = weak ]; then b=${batch:-64}; g=$((b * p)); else g=${batch:-$((64 * max_ranks))}; b=$((g / p)); fi
    report=$tmp/${m}_$p.json
    args=(--data-dir "$data_dir" --train-limit $((steps * g)) --val-split 0 --test-limit 100 --epochs 1
          --precise-bn 0 --batch-size "$b" --device "$device" --progress none
          --output "$tmp/model.h5" --report "$report")
    [ -z "$threads" ] || args+=(--threads "$threads")
    args+=("${extra[@]}")
    echo "\$ ${launcher[*]} $p $bin ${args[*]}" >>"$log"
    if ! "${launcher[@]}" "$p" "$bin" "${args[@]}" >>"$log" 2>&1; then
      echo "scaling.sh: $m, $p ranks failed (see $log)" >&2
      failed=1
      continue
    fi
    [ -z "$keep_reports" ] || cp "$report" "$keep_reports/${m}_np$p.json"
    row=$("$python" "$root/scripts/scaling_row.py" "$report" "$m" "$p" "$b" "$g" "$steps" "$device" "${threads:-0}" \
      "$base_ranks" "$base_ips") || { echo "scaling.sh: $m, $p ranks: unreadable report" >&2; failed=1; continue; }
    echo "$row" >>"$out"
    echo "$row"
    if [ -z "$base_ranks" ]; then
      base_ranks=$p
      base_ips=$(echo "$row" | cut -d, -f8)
    fi
  done
done
echo "wrote $out (log: $log)"
exit "$failed"

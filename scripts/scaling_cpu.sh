#!/usr/bin/env bash
# scaling_cpu.sh — CPU data-parallel scaling on this machine.
#
# Trains a fixed amount of work (--train-limit images, one epoch, augmentation
# on) under several rank x thread layouts and writes one CSV row per run with
# the training throughput the program measured (train_images_per_second of its
# JSON report) and the compute / communication / data time split of rank 0.
#
#   scripts/scaling_cpu.sh [OUT_CSV]        (default results/scaling_cpu.csv)
# Environment: IMAGES (default 12800), LAYOUTS (default "1x1 2x1 1x2": ranks x threads),
#              BATCHES (per-rank batch sizes, default "64"), BUCKET_KB (default 0).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/results/scaling_cpu.csv}
images=${IMAGES:-12800}
layouts=${LAYOUTS:-"1x1 2x1 1x2"}
batches=${BATCHES:-64}
bucket_kb=${BUCKET_KB:-0}
bin=$root/build/mnist_ddp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mpi_flags=(--bind-to none --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi_flags+=(--allow-run-as-root)

mkdir -p "$(dirname "$out")"
echo "ranks,threads_per_rank,batch_per_rank,global_batch,bucket_kb,images,images_per_second,compute_s,communication_s,data_s,blas_kernel,cpu" >"$out"
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
for batch in $batches; do
  for layout in $layouts; do
    ranks=${layout%x*}
    threads=${layout#*x}
    report=$tmp/r_${layout}_${batch}.json
    args=(--data-dir "$root/data/mnist" --train-limit "$images" --val-split 0 --test-limit 1000 --epochs 1
          --batch-size "$batch" --threads "$threads" --precise-bn 0 --bucket-kb "$bucket_kb" --progress none --report "$report")
    if [ "$ranks" -eq 1 ]; then
      "$bin" "${args[@]}" >/dev/null
    else
      mpirun "${mpi_flags[@]}" -np "$ranks" "$bin" "${args[@]}" >/dev/null
    fi
    python3 - "$report" "$ranks" "$threads" "$batch" "$bucket_kb" "$images" "$cpu" >>"$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ranks, threads, batch, bucket, images, cpu = sys.argv[2:8]
t = r["time_seconds"]
kernel = r["blas"].split("kernel ")[1].split(";")[0]
print(f'{ranks},{threads},{batch},{int(ranks)*int(batch)},{bucket},{images},{r["train_images_per_second"]:.1f},'
      f'{t["compute"]:.3f},{t["communication"]:.3f},{t["data"]:.3f},{kernel},"{cpu}"')
PY
    tail -n 1 "$out"
  done
done

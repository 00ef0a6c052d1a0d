#!/usr/bin/env bash
# Dense on oneDNN's inner product (B, branch dense) vs OpenBLAS's three sgemms (A, main at c418365):
# bench_cpu's dense rows and the training step, alternated A B, B A, ... at 1 and 2 threads.
# Each run: Google Benchmark JSON (real_time: wall, manual time for the layer rows; cpu_time: the
# main thread's CPU time of the loop) and /usr/bin/time's user+sys of the whole process, load noted.
set -u
A=${A:-/tmp/dense_bench_cpu_base}
B=${B:-build/bench/bench_cpu}
out=${OUT:-results/onednn/raw/dense_ab}
filter='BM_Layer(Forward|Backward)/(17_dense|20_dense_1)/|BM_TrainStep/128/'
mkdir -p "$out"
run() {  # run LABEL BIN THREADS PAIR
  local label=$1 bin=$2 t=$3 i=$4 f="$out/${1}_t${3}_${4}"
  echo "$label threads=$t pair=$i load=[$(cut -d' ' -f1-3 /proc/loadavg)] $(date -u +%H:%M:%S)" > "$f.meta"
  MNIST_DDP_THREADS=$t /usr/bin/time -f "process user %U s sys %S s wall %e s" -o "$f.time" \
    "$bin" --benchmark_filter="$filter" --benchmark_min_time="${MINTIME:-1.5}" --benchmark_format=json \
    --benchmark_repetitions=1 > "$f.json" 2> "$f.err"
  cat "$f.meta" "$f.time"
}
for t in ${THREADS:-1 2}; do
  for i in $(seq "${PAIRS:-3}"); do
    if [ $((i % 2)) -eq 1 ]; then run A "$A" "$t" "$i"; run B "$B" "$t" "$i"; else run B "$B" "$t" "$i"; run A "$A" "$t" "$i"; fi
  done
done

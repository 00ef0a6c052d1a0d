#!/usr/bin/env bash
# A = main (a9c172c, im2col + OpenBLAS), B = branch onednn; alternated A B B A ...
set -u
A=/tmp/onednn_base/bench_cpu
B=/tmp/onednn_base/bench_new
out=${OUT:-/tmp/onednn_ab}
mkdir -p "$out"
export MNIST_DDP_THREADS=${THREADS:-2}
run() {  # run LABEL BIN CORETYPE
  local label=$1 bin=$2 ct=$3
  if [ "$ct" = unset ]; then unset OPENBLAS_CORETYPE; else export OPENBLAS_CORETYPE=$ct; fi
  local up; up=$(cut -d' ' -f1-3 /proc/loadavg)
  local line; line=$("$bin" --benchmark_filter='BM_TrainStep/128' --benchmark_min_time=${MINTIME:-3} 2>&1 | grep -E '^BM_TrainStep')
  local r cpu; r=$(echo "$line" | grep -o 'images/s=[0-9.]*' | cut -d= -f2); cpu=$(echo "$line" | awk '{print $4}')
  echo "$label threads=$MNIST_DDP_THREADS $ct load=[$up] wall_images/s=$r cpu_ms_per_step=$cpu images_per_cpu_s=$(python3 -c "print(round(128000/$cpu,1))")" | tee -a "$out/trainstep.txt"
}
for ct in ${CORETYPES:-Haswell}; do
  for i in $(seq ${PAIRS:-3}); do
    if [ $((i % 2)) -eq 1 ]; then run A $A $ct; run B $B $ct; else run B $B $ct; run A $A $ct; fi
  done
done
if [ "${LAYERS:-1}" = 1 ]; then
  export OPENBLAS_CORETYPE=Haswell
  for v in A B; do
    bin=$A; [ $v = B ] && bin=$B
    "$bin" --benchmark_filter='BM_Layer' --benchmark_min_time=${LAYERTIME:-0.3} --benchmark_format=json > "$out/layers_$v.json" 2> "$out/layers_$v.err"
  done
fi

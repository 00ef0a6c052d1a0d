#!/usr/bin/env bash
# gpu_check.sh — the GPU checks, prepared here and run on a lent GPU machine.
#
#   scripts/gpu_check.sh bundle   (this machine) Release build with CUDA for Hopper (sm_90) into
#                                 build-gpu/, then gpu_bundle/ (git-ignored, < 64 MiB):
#                                   bin/     mnist_ddp, cuda_tests, unit_tests, the benchmarks
#                                   lib.tar.xz  the libraries ldd lists for them and for orted, except
#                                            glibc's, libstdc++/libgcc_s, the driver and the CUDA
#                                            libraries (cuDNN, cuBLAS, NCCL come from the GPU
#                                            machine's PyTorch venv; cudart is linked statically);
#                                            compressed: OpenBLAS alone is 36 MB (unpacked by `run`)
#                                   prefix/  Open MPI relocated (OPAL_PREFIX): plugins, help files,
#                                            configuration, orterun/orted/mpirun
#                                   data/    MNIST, gzip-compressed (the program reads .gz)
#   scripts/gpu_check.sh run      (the GPU machine; cwd = repository root, $OUT = output folder)
#                                 nvidia-smi, the GPU tests, the unit tests, a short and a full
#                                 training run with --device cuda, the GPU benchmarks; every log,
#                                 report and a summary (summary.txt) go to $OUT.
#
# From the session that holds the device: one `run` call with carry ["gpu_bundle"] and the command
#   scripts/gpu_check.sh run
# Environment of `run`: EPOCHS (full run, default 10), DEVICE (default cuda; `auto` lets the
# script be tried on a machine without a GPU), SKIP (space-separated step names to leave out;
# default "unit_tests bench_cpu", which CI covers: SKIP= runs every step), BUNDLE (default gpu_bundle).
# The steps take about 5 minutes on an H100 (estimate): one `run` call with timeout_s 600.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bundle=${BUNDLE:-$root/gpu_bundle}
case "$bundle" in /*) ;; *) bundle=$root/$bundle ;; esac

die() { echo "gpu_check.sh: $*" >&2; exit 1; }

# ---- bundle ------------------------------------------------------------------------
# Libraries that must come from the target machine, never from the bundle.
is_system_lib() {
  case "$1" in
    linux-vdso.so.*|ld-linux*|libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libresolv.so.*) return 0 ;;
    libstdc++.so.*|libgcc_s.so.*) return 0 ;;
    libcuda.so.*|libcudart.so.*|libcudnn*|libcublas*|libnccl.so.*|libnvrtc*|libnvJitLink*) return 0 ;;
  esac
  return 1
}

copy_deps() {  # copy_deps DEST FILE...: every non-system library ldd lists for FILEs into DEST
  local dest=$1; shift
  local name path
  ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
    while read -r name path; do
      is_system_lib "$name" && continue
      [ -e "$dest/$name" ] || cp -L "$path" "$dest/$name"
    done
}

make_bundle() {
  set -e
  local build=$root/build-gpu
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMNIST_DDP_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90
  local targets=(mnist_ddp cuda_tests unit_tests)
  local bench
  for bench in bench_cpu bench_cuda bench_allreduce; do
    ninja -C "$build" -t targets all 2>/dev/null | grep -q "^$bench:" && targets+=("$bench")
  done
  cmake --build "$build" --target "${targets[@]}" -j "$(nproc)"

  rm -rf "$bundle"
  mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/data/mnist" "$bundle/prefix/bin" \
    "$bundle/prefix/lib/x86_64-linux-gnu" "$bundle/prefix/share" "$bundle/prefix/etc"
  local t f
  for t in "${targets[@]}"; do
    f=$(find "$build" -maxdepth 2 -type f -name "$t" -perm -u+x | head -n 1)
    [ -n "$f" ] || die "built target $t not found under $build"
    cp "$f" "$bundle/bin/"
    strip --strip-unneeded "$bundle/bin/$t"
  done

  # Open MPI, relocatable through OPAL_PREFIX (its paths are relative to the prefix /usr).
  local ompi=/usr/lib/x86_64-linux-gnu/openmpi
  [ -d "$ompi" ] || die "no Open MPI at $ompi"
  cp -a "$ompi" "$bundle/prefix/lib/x86_64-linux-gnu/"
  rm -rf "$bundle/prefix/lib/x86_64-linux-gnu/openmpi/include"
  cp -a /usr/share/openmpi "$bundle/prefix/share/"
  cp -a /etc/openmpi "$bundle/prefix/etc/"
  cp -L /usr/bin/orterun /usr/bin/orted "$bundle/prefix/bin/"
  ln -s orterun "$bundle/prefix/bin/mpirun"

  copy_deps "$bundle/lib" "$bundle"/bin/* /usr/bin/orted /usr/bin/orterun
  chmod -R u+w "$bundle"
  tar -C "$bundle" -cJf "$bundle/lib.tar.xz" lib
  rm -rf "$bundle/lib"

  local data=${MNIST_DATA_DIR:-$root/data/mnist} base
  for base in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ -f "$data/$base" ]; then gzip -9 -c "$data/$base" > "$bundle/data/mnist/$base.gz"
    elif [ -f "$data/$base.gz" ]; then cp "$data/$base.gz" "$bundle/data/mnist/"
    else die "MNIST file $base not found in $data (run scripts/setup.sh)"; fi
  done
  cp "$0" "$bundle/gpu_check.sh"
  git -C "$root" rev-parse HEAD > "$bundle/COMMIT" 2>/dev/null || true
  git -C "$root" status --short > "$bundle/GIT_STATUS" 2>/dev/null || true

  local bytes limit=$((64 * 1024 * 1024))
  bytes=$(du -sb "$bundle" | cut -f1)
  echo "gpu_check.sh: $bundle: $((bytes / 1024 / 1024)) MiB ($bytes bytes; carry limit $limit)"
  du -sh "$bundle"/* | sed 's/^/  /'
  [ "$bytes" -lt "$limit" ] || die "the bundle is larger than the 64 MiB carry limit"
  set +e
}

# ---- run (on the GPU machine) -----------------------------------------------------------
# Folders of the CUDA libraries that the binaries load: the PyTorch venv's NVIDIA wheels.
nvidia_lib_dirs() {
  local dirs="" d py
  for py in python3 /opt/torch/.venv/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    d=$("$py" -c 'import nvidia, os, glob; print(":".join(sorted(p for r in nvidia.__path__ for p in glob.glob(os.path.join(r, "*", "lib")))))' 2>/dev/null) || continue
    [ -n "$d" ] && { dirs=$d; break; }
  done
  if [ -z "$dirs" ]; then
    for d in /opt/torch/.venv/lib/python3*/site-packages/nvidia/*/lib; do
      [ -d "$d" ] && dirs=${dirs:+$dirs:}$d
    done
  fi
  echo "$dirs"
}

summary=""
failures=0
# step NAME TIMEOUT_S EXPECTED_RC COMMAND...: runs COMMAND with its output in $OUT/NAME.log and
# records its exit code (against the expected one) and wall time in the summary.
step() {
  local name=$1 limit=$2 expect=$3; shift 3
  case " ${SKIP-unit_tests bench_cpu} " in *" $name "*) summary+=$(printf '%-16s skipped' "$name")$'\n'; return 0 ;; esac
  local start rc took verdict
  start=$(date +%s.%N)
  echo "== $name: $*" | tee -a "$OUT/commands.txt"
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  verdict=ok
  [ "$rc" = "$expect" ] || { verdict="FAILED (expected rc=$expect)"; failures=$((failures + 1)); }
  [ "$rc" = 124 ] && verdict="FAILED (timed out after ${limit}s)"
  summary+=$(printf '%-16s rc=%-3s %7ss  %s' "$name" "$rc" "$took" "$verdict")$'\n'
  tail -n 4 "$OUT/$name.log" | sed "s/^/  [$name] /"
  return 0
}

run_checks() {
  : "${OUT:?set OUT to the output folder}"
  mkdir -p "$OUT"
  [ -x "$bundle/bin/mnist_ddp" ] || die "no bundle at $bundle (scripts/gpu_check.sh bundle, then carry gpu_bundle)"
  local device=${DEVICE:-cuda} epochs=${EPOCHS:-10}
  # The bundled libraries, unpacked outside the (carried) bundle; python's tarfile if tar lacks xz.
  local libs=${TMPDIR:-/tmp}/mnist_ddp_gpu_bundle
  rm -rf "$libs" && mkdir -p "$libs"
  tar -C "$libs" -xJf "$bundle/lib.tar.xz" 2>/dev/null ||
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$bundle/lib.tar.xz" "$libs" ||
    die "cannot unpack $bundle/lib.tar.xz"
  local nv
  nv=$(nvidia_lib_dirs)
  export OPAL_PREFIX=$bundle/prefix
  export OPAL_SYSCONFDIR=$OPAL_PREFIX/etc/openmpi
  export LD_LIBRARY_PATH=$libs/lib${nv:+:$nv}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PATH=$OPAL_PREFIX/bin:$PATH
  export OMPI_MCA_ess_singleton_isolated=1          # one process without mpirun/orted
  export OMPI_MCA_mca_base_component_show_load_errors=0  # plugins whose libraries are absent
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export MNIST_DDP_DATA_DIR=$bundle/data/mnist
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
  local bin=$bundle/bin data=$bundle/data/mnist

  {
    echo "date: $(date -u +%FT%TZ)"; echo "host: $(uname -a)"; echo "cpus: $(nproc)"
    echo "bundle commit: $(cat "$bundle/COMMIT" 2>/dev/null)"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; echo "OPAL_PREFIX=$OPAL_PREFIX"
    echo; echo "--- ldd mnist_ddp"; ldd "$bin/mnist_ddp"
    echo; echo "--- ldd cuda_tests"; ldd "$bin/cuda_tests"
  } > "$OUT/environment.txt" 2>&1
  grep -q "not found" "$OUT/environment.txt" && echo "gpu_check.sh: missing libraries, see environment.txt:" &&
    grep "not found" "$OUT/environment.txt" | sort -u

  local mpirun=(mpirun --oversubscribe --bind-to none -x LD_LIBRARY_PATH -x OPAL_PREFIX -x OPAL_SYSCONFDIR
                -x OMPI_MCA_mca_base_component_show_load_errors -x MNIST_DDP_DATA_DIR)
  step nvidia-smi 60 0 sh -c 'nvidia-smi && nvidia-smi -L && nvidia-smi -q -d CLOCK,POWER'
  step cuda_tests 180 0 "$bin/cuda_tests" --gtest_output="json:$OUT/cuda_tests.json"
  step unit_tests 300 0 "$bin/unit_tests" --gtest_brief=1
  step train_short 120 0 "$bin/mnist_ddp" --device "$device" --data-dir "$data" --epochs 1 --train-limit 6000 \
    --test-limit 1000 --progress epoch --output "$OUT/short_model.h5" --report "$OUT/train_short.json"
  step train_full 300 0 "$bin/mnist_ddp" --device "$device" --data-dir "$data" --epochs "$epochs" --progress epoch \
    --output "$OUT/mnist_cnn_model.h5" --report "$OUT/train_full.json"
  # The relocated Open MPI: two CPU ranks, then two ranks asking for one GPU each on a
  # one-GPU machine, which must be the clear usage error (exit 2) on every rank.
  step mpi_cpu 60 0 "${mpirun[@]}" -np 2 "$bin/mnist_ddp" --device cpu --data-dir "$data" --epochs 1 \
    --train-limit 2000 --test-limit 500 --progress epoch --output "$OUT/mpi_model.h5"
  local gpus
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  if [ "${gpus:-0}" -ge 2 ]; then
    step mpi_cuda 300 0 "${mpirun[@]}" -np 2 "$bin/mnist_ddp" --device cuda --data-dir "$data" --epochs 2 \
      --progress epoch --output "$OUT/mpi_cuda_model.h5" --report "$OUT/mpi_cuda.json"
  else
    step mpi_cuda_share 60 2 "${mpirun[@]}" -np 2 "$bin/mnist_ddp" --device cuda --data-dir "$data" --epochs 1 \
      --train-limit 2000 --test-limit 500 --output "$OUT/mpi_model.h5"
  fi
  local b
  for b in bench_cuda bench_cpu; do
    [ -x "$bin/$b" ] || continue
    local filter=()
    [ "$b" = bench_cpu ] && filter=(--benchmark_filter='TrainStep')
    step "$b" 120 0 "$bin/$b" "${filter[@]}" --benchmark_out="$OUT/$b.json" --benchmark_out_format=json
  done
  rm -f "$OUT/short_model.h5" "$OUT/mpi_model.h5" "$OUT/mpi_cuda_model.h5"
  {
    printf '%s' "$summary"
    echo "failed steps: $failures"
    grep -H "mnist_ddp:.*device\|test accuracy\|Training throughput" "$OUT"/train_*.log 2>/dev/null | sed 's/^/  /'
  } | tee "$OUT/summary.txt"
  [ "$failures" -eq 0 ]
}

case "${1:-}" in
  bundle) make_bundle ;;
  run) run_checks ;;
  *) echo "usage: scripts/gpu_check.sh bundle | run   (see the top of this file)" >&2; exit 2 ;;
esac

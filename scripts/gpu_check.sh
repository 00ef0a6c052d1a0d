#!/usr/bin/env bash
# gpu_check.sh — the GPU checks, prepared here and run on a lent GPU machine.
#
#   scripts/gpu_check.sh bundle   (this machine) Release build with CUDA for Hopper (sm_90) into
#                                 build-gpu/ (or $GPU_BUILD_DIR, used as it is configured), then
#                                 gpu_bundle/ (git-ignored, < 64 MiB), self-contained:
#                                   bin/     mnist_ddp, cuda_tests, unit_tests, mpi_tests, the benchmarks
#                                   lib.tar.xz  every library they, Open MPI (its programs and
#                                            plugins) and PMIx need, except glibc's,
#                                            libstdc++/libgcc_s, the driver and the CUDA libraries
#                                            (cuDNN, cuBLAS, NCCL come from the GPU machine's
#                                            PyTorch wheels; cudart is linked statically);
#                                            compressed: oneDNN alone is 40 MB (unpacked by `run`)
#                                   prefix/  Open MPI relocated (OPAL_PREFIX): plugins (less the
#                                            interconnect ones: UCX, OFI, PSM, verbs), help files,
#                                            configuration, orterun/orted/mpirun; pmix2/: PMIx's
#                                            plugins and help files (PMIX_MCA_mca_base_component_path)
#                                   data/    MNIST, gzip-compressed (the program reads .gz)
#                                   gpu_check.sh, torch_seed_cnn.py
#                                 The step fails when any library of the bundle would resolve
#                                 outside it and outside the system list above.
#   scripts/gpu_check.sh run      (the GPU machine; $OUT = output folder) the checks below; runs
#                                 from the repository or from gpu_bundle/ alone (gpu_bundle/gpu_check.sh run)
#   scripts/gpu_check.sh exec CMD...  CMD in the bundle's environment (tests/cuda/test_gpu_bundle.sh)
#
# From the session that holds the device: one `run` call with carry ["gpu_bundle"], timeout_s 420:
#   gpu_bundle/gpu_check.sh run
# Steps of `run` and their timeouts (s):  nvidia-smi 10, cuda_tests 50, train_b128 30 (1 epoch,
# batch 128, no augmentation: the figure to compare with PyTorch, and the estimate that sizes the
# next run), train_full 100 (EPOCHS, default 10, fewer if the estimate says they do not fit),
# mpi_cpu 25 (2 CPU ranks, bundled Open MPI), mpi_cuda_share 15 (2 ranks, 1 GPU: usage error,
# exit 2) or mpi_cuda 40 and mpi_sync_bn 30 (2+ GPUs: --sync-bn's step equivalence over NCCL,
# tests/mpi MpiSyncBn.CudaStep...), bench_cuda 40 (min time 0.05 s), torch_eager 25 and
# torch_compile 65 (bench/torch_seed_cnn.py): 360 s in all at most on one GPU (415 on 2+). SKIP (default
# "unit_tests bench_cpu", which CI covers) names steps to leave out; SKIP= adds unit_tests 60
# and bench_cpu 30. DEVICE (default cuda; `auto` lets the script run on a machine without a GPU:
# the GPU steps are then skipped with their reason and the CPU runs made small), BUNDLE
# (default: the folder of this script if it is a bundle, else gpu_bundle).
#
# Duration on an H100 (estimate; nothing has run on one yet): about 3 minutes, 6 at most.
#   start: unpacking lib.tar.xz (~50 MB) ~3 s; nvidia-smi ~2 s;
#   cuda_tests ~25 s: cuDNN/cuBLAS initialisation ~3 s, an algorithm search per layer and batch
#     size, CPU references at batch 500 (28x28x32 BatchNorm, 1->32 convolution) a few seconds,
#     a one-rank NCCL communicator per --sync-bn case (5) ~1 s each;
#   train_b128 ~10 s: start-up ~4 s, 422 steps of 128 at an assumed 20-40k images/s ~2 s, evaluation;
#   train_full ~45 s: 10 epochs of 54,000 images at batch 64 with augmentation (~10-20k images/s:
#     3-5 s each) plus validation and precise-BN; the estimate caps it at the 100 s timeout;
#   mpi_cpu ~10 s on 16 cores; mpi_cuda_share ~3 s (2+ GPUs: mpi_cuda ~20 s, mpi_sync_bn ~10 s);
#   bench_cuda ~25 s: ~60 rows at 0.05 s each plus the algorithm searches and two 8192^3 GEMM sizes;
#   torch_eager ~15 s (import ~5 s, 320 steps); torch_compile ~50 s (Inductor compiles forward and
#     backward, ~30-40 s on 16 cores); archive and summary ~1 s.
# Every step appends its line to $OUT/summary.txt when it ends and the logs are re-archived into
# $OUT/logs.tar.gz, so a call cut short still returns what ran. $OUT gets 5 files: summary.txt,
# logs.tar.gz (every log, report, environment.txt, commands.txt), train_full.json,
# cuda_tests.json, bench_cuda.json.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -x "$here/bin/mnist_ddp" ]; then root=$here; default_bundle=$here  # the copy inside a bundle
else root=$(cd "$here/.." && pwd); default_bundle=$root/gpu_bundle; fi
bundle=${BUNDLE:-$default_bundle}
case "$bundle" in /*) ;; *) bundle=$PWD/$bundle ;; esac

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

# Open MPI plugins for interconnects a single GPU machine does not have, whose libraries
# (UCX, libfabric, PSM, verbs, OpenSHMEM) the bundle does not carry: left out.
is_interconnect_lib() {
  case "$1" in
    libuc[pstm].so.*|libfabric.so.*|libefa.so.*|libpsm*|libinfinipath.so.*|libibverbs.so.*|librdmacm.so.*) return 0 ;;
    libnl-*|liboshmem.so.*|libmca_common_ucx.so.*|libmca_common_ofi.so.*|libmca_common_verbs.so.*) return 0 ;;
  esac
  return 1
}

# `ldd` of FILEs as "name path" lines ("name not-found" for a missing one).
resolved_deps() {
  ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3} $2 == "=>" && $3 == "not" {print $1, "not-found"}' |
    sort -u
}

copy_deps() {  # copy_deps DEST FILE...: every non-system library ldd lists for FILEs into DEST
  local dest=$1; shift
  local name path
  while read -r name path; do
    is_system_lib "$name" && continue
    [ "$path" = not-found ] && continue  # reported by check_deps
    [ -e "$dest/$name" ] || cp -L "$path" "$dest/$name"
  done < <(resolved_deps "$@")
  return 0
}

drop_interconnect_plugins() {  # drop_interconnect_plugins DIR: plugins that need a left-out library
  local f name path dropped=()
  for f in "$1"/*.so; do
    while read -r name path; do
      if is_interconnect_lib "$name"; then dropped+=("$(basename "$f")"); rm -f "$f"; break; fi
    done < <(resolved_deps "$f")
  done
  echo "gpu_check.sh: Open MPI plugins left out (interconnect libraries not carried): ${dropped[*]}"
}

# Fails unless every library of FILEs resolves inside the bundle or is a system one.
check_deps() {
  local lib=$1; shift
  local name path bad=""
  while read -r name path; do
    is_system_lib "$name" && continue
    case "$path" in "$bundle"/*) ;; *) bad+="  $name => $path"$'\n' ;; esac
  done < <(LD_LIBRARY_PATH=$lib resolved_deps "$@")
  [ -z "$bad" ] || die "libraries that would resolve outside the bundle:"$'\n'"$bad"
  echo "gpu_check.sh: every library resolves inside the bundle or is a system one (glibc, libstdc++, driver, CUDA)"
}

# Open MPI relocated through OPAL_PREFIX (its paths are relative to the prefix /usr), PMIx's plugins.
bundle_mpi() {
  local ompi=/usr/lib/x86_64-linux-gnu/openmpi pmix=${PMIX_DIR:-/usr/lib/x86_64-linux-gnu/pmix2}
  [ -d "$ompi" ] || die "no Open MPI at $ompi"
  cp -a "$ompi" "$bundle/prefix/lib/x86_64-linux-gnu/"
  rm -rf "$bundle/prefix/lib/x86_64-linux-gnu/openmpi/include"
  drop_interconnect_plugins "$bundle/prefix/lib/x86_64-linux-gnu/openmpi/lib/openmpi3"
  cp -a /usr/share/openmpi "$bundle/prefix/share/"
  cp -a /etc/openmpi "$bundle/prefix/etc/"
  cp -L /usr/bin/orterun /usr/bin/orted "$bundle/prefix/bin/"
  ln -s orterun "$bundle/prefix/bin/mpirun"
  if [ -e "$ompi/lib/openmpi3/mca_pmix_ext3x.so" ]; then
    [ -d "$pmix/lib/pmix" ] || die "Open MPI's mca_pmix_ext3x needs PMIx, not found at $pmix (PMIX_DIR)"
    mkdir -p "$bundle/prefix/pmix2/lib"
    cp -a "$pmix/lib/pmix" "$bundle/prefix/pmix2/lib/"
    [ -d "$pmix/share" ] && cp -a "$pmix/share" "$bundle/prefix/pmix2/"
  fi
}

# The ELF files of the bundle whose libraries it must carry.
bundle_elves() {
  find "$bundle/bin" "$bundle/prefix" -type f \( -name '*.so' -o -perm -u+x \) -print0 |
    xargs -0 file -L 2>/dev/null | awk -F: '/ELF/ {print $1}'
}

make_bundle() {
  set -e
  local build=${GPU_BUILD_DIR:-$root/build-gpu}
  if [ -z "${GPU_BUILD_DIR:-}" ] || [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMNIST_DDP_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90
  fi
  local targets=(mnist_ddp cuda_tests unit_tests mpi_tests)
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
  bundle_mpi
  chmod -R u+w "$bundle"
  local elves
  mapfile -t elves < <(bundle_elves)
  copy_deps "$bundle/lib" "${elves[@]}"
  check_deps "$bundle/lib" "${elves[@]}" "$bundle"/lib/*
  tar -C "$bundle" -cJf "$bundle/lib.tar.xz" lib
  rm -rf "$bundle/lib"

  local data=${MNIST_DATA_DIR:-$root/data/mnist} base
  for base in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ -f "$data/$base" ]; then gzip -9 -c "$data/$base" > "$bundle/data/mnist/$base.gz"
    elif [ -f "$data/$base.gz" ]; then cp "$data/$base.gz" "$bundle/data/mnist/"
    else die "MNIST file $base not found in $data (run scripts/setup.sh)"; fi
  done
  cp "$root/scripts/gpu_check.sh" "$root/bench/torch_seed_cnn.py" "$bundle/"
  git -C "$root" rev-parse HEAD > "$bundle/COMMIT" 2>/dev/null || true
  git -C "$root" status --short > "$bundle/GIT_STATUS" 2>/dev/null || true

  local bytes limit=$((64 * 1024 * 1024))
  bytes=$(du -sb "$bundle" | cut -f1)
  echo "gpu_check.sh: $bundle: $((bytes / 1024 / 1024)) MiB ($bytes bytes; carry limit $limit)"
  du -sh "$bundle"/* | sed 's/^/  /'
  [ "$bytes" -lt "$limit" ] || die "the bundle is larger than the 64 MiB carry limit"
  set +e
}

# ---- the bundle's environment -------------------------------------------------------------
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

orig_ld_library_path=${LD_LIBRARY_PATH:-}
setup_env() {
  [ -x "$bundle/bin/mnist_ddp" ] || die "no bundle at $bundle (scripts/gpu_check.sh bundle, then carry gpu_bundle)"
  # The bundled libraries, unpacked outside the (carried) bundle; python's tarfile if tar lacks xz.
  libs=${TMPDIR:-/tmp}/mnist_ddp_gpu_bundle.$$
  rm -rf "$libs" && mkdir -p "$libs"
  tar -C "$libs" -xJf "$bundle/lib.tar.xz" 2>/dev/null ||
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$bundle/lib.tar.xz" "$libs" ||
    die "cannot unpack $bundle/lib.tar.xz"
  local nv
  nv=$(nvidia_lib_dirs)
  export OPAL_PREFIX=$bundle/prefix
  export OPAL_SYSCONFDIR=$OPAL_PREFIX/etc/openmpi
  export PMIX_INSTALL_PREFIX=$OPAL_PREFIX/pmix2
  export PMIX_MCA_mca_base_component_path=$PMIX_INSTALL_PREFIX/lib/pmix
  export LD_LIBRARY_PATH=$libs/lib${nv:+:$nv}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PATH=$OPAL_PREFIX/bin:$PATH
  export OMPI_MCA_ess_singleton_isolated=1          # one process without mpirun/orted
  export OMPI_MCA_mca_base_component_show_load_errors=0  # plugins whose libraries are absent
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export MNIST_DDP_DATA_DIR=$bundle/data/mnist
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
  mpirun=(mpirun --oversubscribe --bind-to none -x LD_LIBRARY_PATH -x OPAL_PREFIX -x OPAL_SYSCONFDIR
          -x PMIX_INSTALL_PREFIX -x PMIX_MCA_mca_base_component_path
          -x OMPI_MCA_mca_base_component_show_load_errors -x MNIST_DDP_DATA_DIR)
}

run_exec() {  # `mpirun` as the first word: the bundle's mpirun with the options `run` uses
  setup_env
  trap 'rm -rf "$libs"' EXIT
  [ "$1" = mpirun ] && { shift; set -- "${mpirun[@]}" "$@"; }
  "$@"
}

# ---- run (on the GPU machine) -----------------------------------------------------------
failures=0
# step NAME TIMEOUT_S EXPECTED_RC COMMAND...: runs COMMAND with its output in $work/NAME.log,
# appends its exit code, verdict and wall time to the summary, re-archives the logs.
# Exit code 77 is "skipped" (the reason: the log's last line), a failure where a GPU is required.
step() {
  local name=$1 limit=$2 expect=$3; shift 3
  case " ${SKIP-unit_tests bench_cpu} " in *" $name "*) note "$(printf '%-16s skipped (SKIP)' "$name")"; return 0 ;; esac
  local start rc took verdict
  start=$(date +%s.%N)
  echo "== $name (timeout ${limit}s): $*" | tee -a "$work/commands.txt"
  timeout --kill-after=2 "$limit" "$@" > "$work/$name.log" 2>&1
  rc=$?
  took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  verdict=ok
  if [ "$rc" = 77 ] && [ "$expect" != 77 ]; then
    verdict="skipped: $(grep -v '^\s*$' "$work/$name.log" | tail -n 1 | cut -c1-160)"
    [ "$need_gpu" = 1 ] && { verdict="FAILED ($verdict)"; failures=$((failures + 1)); }
  elif [ "$rc" != "$expect" ]; then
    verdict="FAILED (expected rc=$expect)"; failures=$((failures + 1))
  fi
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && verdict="FAILED (timed out after ${limit}s)"
  note "$(printf '%-16s rc=%-3s %7ss  %s' "$name" "$rc" "$took" "$verdict")"
  tail -n 4 "$work/$name.log" | sed "s/^/  [$name] /"
  archive
  return 0
}

note() { echo "$*" | tee -a "$OUT/summary.txt"; }
archive() { tar -C "$work" -czf "$OUT/logs.tar.gz.part" . 2>/dev/null && mv "$OUT/logs.tar.gz.part" "$OUT/logs.tar.gz"; }
json_value() {  # json_value FILE EXPRESSION (python, over `d`): prints it, or nothing
  [ -f "$1" ] && python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}

# The full run's arguments from train_b128's images/s: an epoch of 60,000 images at batch 64
# with augmentation and evaluation, at half that rate (conservative); what fits into 75 s of
# the 100 s timeout. Less than an epoch: one epoch on a part of the training set.
full_run_args() {
  local ips epochs=${EPOCHS:-10}
  ips=$(json_value "$work/train_b128.json" 'd["train_images_per_second"]')
  if [ -z "$ips" ]; then  # no estimate: the full run on a GPU, a small one without
    if [ "$need_gpu" = 1 ]; then echo "--epochs $epochs"; else echo "--epochs 1 --train-limit 500 --test-limit 500 --precise-bn 0"; fi
    return
  fi
  awk -v ips="$ips" -v max="$epochs" 'BEGIN {
    per_epoch = 60000 / (0.5 * ips); fit = int(75 / per_epoch);
    if (fit >= 1) { printf "--epochs %d\n", (fit < max ? fit : max); exit }
    limit = int(75 * 0.5 * ips * 0.8); if (limit < 500) limit = 500;
    printf "--epochs 1 --train-limit %d --test-limit 1000 --precise-bn 0\n", limit }'
}

pick_python() {  # the first python3 that has torch, else python3 (the script then says why it skips)
  local py
  for py in python3 /opt/torch/.venv/bin/python3; do
    command -v "$py" >/dev/null 2>&1 && "$py" -c 'import torch' >/dev/null 2>&1 && { echo "$py"; return; }
  done
  echo python3
}

write_environment() {
  {
    echo "date: $(date -u +%FT%TZ)"; echo "host: $(uname -a)"; echo "cpus: $(nproc)"
    echo "bundle commit: $(cat "$bundle/COMMIT" 2>/dev/null)"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; echo "OPAL_PREFIX=$OPAL_PREFIX"
    echo; echo "--- ldd mnist_ddp"; ldd "$bundle/bin/mnist_ddp"
    echo; echo "--- ldd cuda_tests"; ldd "$bundle/bin/cuda_tests"
  } > "$work/environment.txt" 2>&1
  grep -q "not found" "$work/environment.txt" && note "missing libraries (environment.txt):" &&
    grep "not found" "$work/environment.txt" | sort -u | sed 's/^/  /' | tee -a "$OUT/summary.txt"
  return 0
}

# The training figures of a report: images/s, epochs, test accuracy.
report_note() {
  local what=$1 file=$2 line
  line=$(json_value "$file" '"%.0f images/s, %d epoch(s), test accuracy %.4f on %d, device %s" % (d["train_images_per_second"], len(d["history"]), d["test"]["accuracy"], d["test"]["count"], d.get("device_description", d["device"]))')
  [ -n "$line" ] && note "  $what: $line"
}

run_checks() {
  : "${OUT:?set OUT to the output folder}"
  mkdir -p "$OUT"
  setup_env
  work=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_work.XXXXXX")
  trap 'rm -rf "$libs" "$work"' EXIT
  local device=${DEVICE:-cuda} bin=$bundle/bin data=$bundle/data/mnist gpus
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  need_gpu=1
  [ "$device" = auto ] && [ "${gpus:-0}" -eq 0 ] && need_gpu=0
  # No GPU: the CPU runs kept small, so that the call still fits.
  local b128_limits=(--test-limit 2000) mpi_limits=(--train-limit 2000 --test-limit 500)
  [ "$need_gpu" = 0 ] && b128_limits=(--train-limit 300 --test-limit 200) && mpi_limits=(--train-limit 300 --test-limit 100)
  : > "$OUT/summary.txt"
  note "gpu_check.sh run: $(date -u +%FT%TZ), $(hostname), ${gpus:-0} GPU(s), DEVICE=$device, bundle $(cat "$bundle/COMMIT" 2>/dev/null)"
  note "step timeouts: 360 s at most with the default SKIP (see the header of gpu_check.sh)"
  write_environment

  step nvidia-smi 10 0 sh -c 'command -v nvidia-smi >/dev/null || { echo "no nvidia-smi: not a GPU machine"; exit 77; }
                             nvidia-smi && nvidia-smi -L && nvidia-smi -q -d CLOCK,POWER'
  step cuda_tests 50 0 "$bin/cuda_tests" --gtest_output="json:$work/cuda_tests.json"
  note "  cuda_tests: $(grep -E '^\[ +(PASSED|SKIPPED|FAILED) +\] [0-9]+ tests?' "$work/cuda_tests.log" 2>/dev/null | tr '\n' ' ')"
  step unit_tests 60 0 "$bin/unit_tests" --gtest_brief=1
  step train_b128 30 0 "$bin/mnist_ddp" --device "$device" --data-dir "$data" --batch-size 128 --no-augment \
    --epochs 1 --precise-bn 0 "${b128_limits[@]}" --progress epoch --output "$work/b128_model.h5" \
    --report "$work/train_b128.json"
  report_note "mnist_ddp batch 128, no augmentation" "$work/train_b128.json"
  local full
  read -r -a full <<< "$(full_run_args)"
  note "  train_full sized from train_b128: ${full[*]}"
  step train_full 100 0 "$bin/mnist_ddp" --device "$device" --data-dir "$data" "${full[@]}" --progress epoch \
    --output "$work/mnist_cnn_model.h5" --report "$work/train_full.json"
  report_note "mnist_ddp full run" "$work/train_full.json"
  # The relocated Open MPI: two CPU ranks, then two ranks asking for one GPU each on a
  # one-GPU machine, which must be the clear usage error (exit 2) on every rank.
  step mpi_cpu 25 0 "${mpirun[@]}" -np 2 "$bin/mnist_ddp" --device cpu --data-dir "$data" --epochs 1 \
    "${mpi_limits[@]}" --precise-bn 512 --progress epoch --output "$work/mpi_model.h5"
  if [ "${gpus:-0}" -ge 2 ]; then
    step mpi_cuda 40 0 "${mpirun[@]}" -np 2 "$bin/mnist_ddp" --device cuda --data-dir "$data" --epochs 1 \
      --progress epoch --output "$work/mpi_cuda_model.h5" --report "$work/mpi_cuda.json"
    # --sync-bn over NCCL: one step on 2 GPUs x 12 images equals one step on 1 GPU x 24 (tests/mpi).
    step mpi_sync_bn 30 0 "${mpirun[@]}" -np 2 "$bin/mpi_tests" --gtest_filter='MpiSyncBn.Cuda*'
    grep -q 'SKIPPED' "$work/mpi_sync_bn.log" && note "  mpi_sync_bn: SKIPPED (see its log): not a GPU run"
  elif [ "${gpus:-0}" -eq 1 ]; then
    step mpi_cuda_share 15 2 "${mpirun[@]}" -np 2 "$bin/mnist_ddp" --device cuda --data-dir "$data" --epochs 1 \
      --train-limit 2000 --test-limit 500 --output "$work/mpi_model.h5"
  else
    note "$(printf '%-16s skipped (no GPU: two ranks on one GPU need one)' mpi_cuda_share)"
  fi
  local b filter
  for b in bench_cuda bench_cpu; do
    [ -x "$bin/$b" ] || continue
    filter=()
    [ "$b" = bench_cpu ] && filter=(--benchmark_filter='TrainStep')
    step "$b" "$([ "$b" = bench_cuda ] && echo 40 || echo 30)" 0 "$bin/$b" "${filter[@]}" \
      --benchmark_min_time=0.05 --benchmark_out="$work/$b.json" --benchmark_out_format=json
  done
  local py mode
  py=$(pick_python)
  for mode in eager compile; do
    step "torch_$mode" "$([ "$mode" = eager ] && echo 25 || echo 65)" 0 \
      env LD_LIBRARY_PATH="$orig_ld_library_path" "$py" "$bundle/torch_seed_cnn.py" --device cuda --mode "$mode" \
      --data-dir "$data" --json "$work/torch_$mode.json"
    grep -h '^torch ' "$work/torch_$mode.log" | sed 's/^/  /' | tee -a "$OUT/summary.txt"
  done
  compare_note
  rm -f "$work"/*.h5
  cp "$work/train_full.json" "$work/cuda_tests.json" "$work/bench_cuda.json" "$OUT/" 2>/dev/null
  note "failed steps: $failures"
  archive
  [ "$failures" -eq 0 ]
}

# mnist_ddp's images/s at batch 128 over PyTorch's: the GPU figure this product is judged by.
compare_note() {
  local ours theirs mode
  ours=$(json_value "$work/train_b128.json" 'd["train_images_per_second"]')
  for mode in eager compile; do
    theirs=$(json_value "$work/torch_$mode.json" 'd["runs"][0]["images_per_second"]')
    [ -n "$ours" ] && [ -n "$theirs" ] &&
      note "  mnist_ddp / torch $mode at batch 128: $(awk -v a="$ours" -v b="$theirs" 'BEGIN{printf "%.0f / %.0f images/s = %.2f", a, b, a / b}')"
  done
  return 0
}

case "${1:-}" in
  bundle) make_bundle ;;
  run) run_checks ;;
  exec) shift; [ $# -gt 0 ] || die "usage: gpu_check.sh exec COMMAND..."; run_exec "$@" ;;
  *) echo "usage: scripts/gpu_check.sh bundle | run | exec COMMAND...   (see the top of this file)" >&2; exit 2 ;;
esac

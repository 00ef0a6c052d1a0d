#!/usr/bin/env bash
# test_gpu_bundle.sh — the GPU bundle works on a machine without MPI packages.
#
#   tests/cuda/test_gpu_bundle.sh BUILD_DIR SOURCE_DIR [--run]
#
# Builds a bundle (scripts/gpu_check.sh bundle) from the binaries of BUILD_DIR into
# BUILD_DIR/test_gpu_bundle, then, in a private mount namespace where the system's
# Open MPI, PMIx, munge, hwloc and libevent are hidden (empty folders bound over
# their folders, /dev/null over their libraries and programs) — as on the GPU
# machine, which has no MPI packages — runs from the bundle alone: a singleton
# `mnist_ddp --device cpu` and `mpirun -np 2` of it on the CPU. With --run it
# also runs `DEVICE=auto gpu_check.sh run` there (several minutes on 2 cores).
# PREBUILT_BUNDLE=DIR tests that bundle instead of making one.
# Exit 77 (skipped), with the reason, where the bundle cannot be built (no CUDA
# build, no Open MPI) or the namespace cannot be made (not root, no unshare).
set -uo pipefail
build=${1:?usage: test_gpu_bundle.sh BUILD_DIR SOURCE_DIR [--run]}
src=${2:?usage: test_gpu_bundle.sh BUILD_DIR SOURCE_DIR [--run]}
full_run=${3:-}
build=$(cd "$build" && pwd)
skip() { echo "test_gpu_bundle.sh: skipped: $*"; exit 77; }
fail() { echo "test_gpu_bundle.sh: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || skip "needs root for the mount namespace"
unshare -m --propagation private true 2>/dev/null || skip "cannot make a mount namespace (unshare -m)"
[ -x "$build/tests/cuda_tests" ] || skip "no CUDA build in $build (cuda_tests not built): the bundle needs it"
[ -d /usr/lib/x86_64-linux-gnu/openmpi ] || skip "no Open MPI at /usr/lib/x86_64-linux-gnu/openmpi to bundle"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_gpu_bundle.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ -n "${PREBUILT_BUNDLE:-}" ]; then  # a bundle made before (gpu_check.sh bundle): tested as it is
  bundle=$(cd "$PREBUILT_BUNDLE" && pwd)
else
  bundle=$build/test_gpu_bundle
  echo "== bundle from $build into $bundle"
  BUNDLE=$bundle GPU_BUILD_DIR=$build "$src/scripts/gpu_check.sh" bundle > "$tmp/bundle.log" 2>&1 ||
    { tail -n 30 "$tmp/bundle.log"; fail "gpu_check.sh bundle"; }
  tail -n 12 "$tmp/bundle.log"
fi

# What a machine without MPI packages lacks. Folders: an empty folder over each.
# Files (regular ones; symlinks lead to them): /dev/null over each.
hidden_dirs=()
for d in /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 /usr/lib/x86_64-linux-gnu/hwloc \
         /usr/share/openmpi /usr/share/pmix /etc/openmpi; do
  [ -d "$d" ] && hidden_dirs+=("$d")
done
hidden_files=()
for f in /usr/lib/x86_64-linux-gnu/lib{mpi,open-pal,open-rte,oshmem,mca_common_,pmix,munge,hwloc,event}*.so* \
         /usr/bin/{mpirun,mpiexec,orterun,orted,ompi_info,ompi-server}*; do
  [ -f "$f" ] && [ ! -L "$f" ] && hidden_files+=("$f")
done
mkdir -p "$tmp/empty"

# hidden COMMAND...: COMMAND in a mount namespace with the above hidden.
hidden() {
  unshare -m --propagation private bash -c '
    empty=$1; nd=$2; shift 2
    for ((i = 0; i < nd; ++i)); do mount --bind "$empty" "$1" || exit 90; shift; done
    nf=$1; shift
    for ((i = 0; i < nf; ++i)); do mount --bind /dev/null "$1" || exit 90; shift; done
    exec "$@"' hidden "$tmp/empty" "${#hidden_dirs[@]}" "${hidden_dirs[@]}" "${#hidden_files[@]}" \
    "${hidden_files[@]}" "$@"
}

echo "== hidden: ${hidden_dirs[*]} and ${#hidden_files[@]} files"
# The system's Open MPI must really be gone in there.
hidden sh -c '! /usr/bin/mpirun --version >/dev/null 2>&1 && ! ls /usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3/*.so >/dev/null 2>&1' ||
  fail "the system's Open MPI is still usable in the namespace"

run_args=(--device cpu --epochs 1 --train-limit 600 --test-limit 200 --precise-bn 0 --progress epoch
          --data-dir "$bundle/data/mnist")
echo "== singleton from the bundle"
hidden "$bundle/gpu_check.sh" exec "$bundle/bin/mnist_ddp" "${run_args[@]}" --output "$tmp/singleton.h5" \
  > "$tmp/singleton.log" 2>&1 || { tail -n 30 "$tmp/singleton.log"; fail "singleton mnist_ddp from the bundle"; }
tail -n 3 "$tmp/singleton.log"
echo "== mpirun -np 2 from the bundle"
hidden "$bundle/gpu_check.sh" exec mpirun -np 2 "$bundle/bin/mnist_ddp" "${run_args[@]}" --output "$tmp/np2.h5" \
  > "$tmp/np2.log" 2>&1 || { tail -n 30 "$tmp/np2.log"; fail "mpirun -np 2 from the bundle"; }
tail -n 3 "$tmp/np2.log"
grep -q "2 ranks\|world_size.*2\|ranks: 2\|x 2" "$tmp/np2.log" || echo "(note: no rank count in the log to check)"

if [ "$full_run" = --run ]; then
  echo "== DEVICE=auto gpu_check.sh run from the bundle"
  mkdir -p "$tmp/out"
  hidden env DEVICE=auto OUT="$tmp/out" "$bundle/gpu_check.sh" run > "$tmp/run.log" 2>&1
  rc=$?
  cat "$tmp/out/summary.txt"
  n=$(find "$tmp/out" -type f | wc -l)
  echo "files in \$OUT: $n"; ls -la "$tmp/out"
  [ "$rc" = 0 ] || { tail -n 40 "$tmp/run.log"; fail "gpu_check.sh run (rc $rc)"; }
  [ "$n" -le 8 ] || fail "$n files in \$OUT (at most 8)"
fi
echo "test_gpu_bundle.sh: ok"

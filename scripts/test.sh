#!/usr/bin/env bash
# test.sh — the test command: set up the machine (packages, data), build, run ctest;
# then build the unit and fuzz tests again with AddressSanitizer + UBSan and run them.
#
#   scripts/test.sh [ctest arguments...]    (the arguments apply to the first, full run)
#
# 1. The full suite in build/ (or $BUILD_DIR), as built by scripts/build.sh.
# 2. The sanitizer stage: a RelWithDebInfo build with -DMNIST_DDP_SANITIZE=ON in
#    build-asan/ (or $BUILD_DIR-asan, or $ASAN_BUILD_DIR) of the GoogleTest unit tests
#    and the reader fuzz tests, run with ctest -L 'unit|fuzz'. Any ASan, UBSan or
#    LeakSanitizer report ends the test that made it with a failure; leaks inside
#    system libraries that are not ours to fix are listed, with the reason, in
#    tests/sanitizer.supp. MNIST_DDP_SANITIZE_TESTS=0 skips this stage.
# Both stages always run; the script fails if either failed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
build_dir=${BUILD_DIR:-$root/build}

status=0
(cd "$build_dir" && ctest --output-on-failure --timeout 900 "$@") || status=$?

if [ "${MNIST_DDP_SANITIZE_TESTS:-1}" != 0 ]; then
  asan_dir=${ASAN_BUILD_DIR:-$build_dir-asan}
  echo "== sanitizer stage: unit and fuzz tests under AddressSanitizer + UBSan in $asan_dir"
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  sanitize_status=0
  if [ ! -f "$asan_dir/CMakeCache.txt" ]; then
    # No benchmarks, no CUDA (nvcc takes no sanitizer flags; the GPU code is not
    # in these test binaries anyway).
    cmake -S "$root" -B "$asan_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DMNIST_DDP_SANITIZE=ON -DMNIST_DDP_BENCH=OFF -DMNIST_DDP_CUDA=OFF || sanitize_status=$?
  fi
  if [ "$sanitize_status" -eq 0 ]; then
    cmake --build "$asan_dir" --target unit_tests fuzz_tests --parallel "$(nproc)" || sanitize_status=$?
  fi
  if [ "$sanitize_status" -eq 0 ]; then
    # halt_on_error: the first report ends the process, which fails its test.
    # Leak checking stays on (LeakSanitizer runs at exit).
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:check_initialization_order=1:strict_string_checks=1:detect_odr_violation=2"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    export LSAN_OPTIONS="suppressions=$root/tests/sanitizer.supp:print_suppressions=0"
    (cd "$asan_dir" && ctest --output-on-failure --timeout 900 -L '^(unit|fuzz)$' --parallel "$(nproc)") ||
      sanitize_status=$?
  fi
  if [ "$sanitize_status" -ne 0 ]; then
    echo "== sanitizer stage FAILED (exit $sanitize_status)"
    [ "$status" -ne 0 ] || status=$sanitize_status
  else
    echo "== sanitizer stage passed"
  fi
fi
exit "$status"

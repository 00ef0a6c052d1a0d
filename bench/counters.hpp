// counters.hpp — the throughput counters every benchmark row reports, computed
// the same way for the CPU (bench_cpu.cpp) and the GPU (bench_cuda.cu).
#pragma once

#include <benchmark/benchmark.h>

namespace mnist_ddp::bench {

// GFLOP/s and GB/s over the measured time, and, for work bound by a matrix
// product, the GEMM ceiling it is compared with and the percentage of it
// reached. flops and bytes are per iteration (0: not reported); `seconds` is the
// time the row measured over all its iterations (manual time, or the loop's wall
// time); ceiling_gflops <= 0: no ceiling.
inline void set_rate_counters(benchmark::State& state, double flops, double bytes, double ceiling_gflops,
                              double seconds) {
  if (seconds <= 0) return;
  const double iters = static_cast<double>(state.iterations());
  const double gflops = flops * iters / seconds / 1e9;
  if (flops > 0) state.counters["GFLOP/s"] = gflops;
  if (bytes > 0) state.counters["GB/s"] = bytes * iters / seconds / 1e9;
  if (flops > 0 && ceiling_gflops > 0) {
    state.counters["sgemm_GFLOP/s"] = ceiling_gflops;
    state.counters["%_of_sgemm"] = 100.0 * gflops / ceiling_gflops;
  }
}

}  // namespace mnist_ddp::bench

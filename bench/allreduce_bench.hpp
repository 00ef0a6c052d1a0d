// allreduce_bench.hpp — all-reduce latency and bandwidth under Google Benchmark,
// for any all-reduce: the MPI one on host memory (bench_allreduce.cpp) and the
// NCCL one on device memory (bench_cuda.cu) register through the same function,
// so their rows have the same sizes, names and counters and can be compared.
//
// Sizes: 4 B to 64 MiB by powers of 4, and the exact gradient of the seed CNN
// (437 738 floats), as floats summed in place. Every iteration:
//   barrier → start clock → all-reduce (complete on this rank) → stop clock
//   → the MAXIMUM of the elapsed times over all ranks becomes the iteration time
// (manual timing). Every rank then sees the same times, so Google Benchmark picks
// the same iteration counts on every rank and the collectives stay matched.
// Counters, as nccl-tests defines them (doc/PERFORMANCE.md there):
//   algbw_GB/s = bytes / t,  busbw_GB/s = algbw · 2(p-1)/p
// (busbw is what each rank's link carries in a ring all-reduce, comparable with
// the link's bandwidth whatever p is). Both are 0 for one rank, where nothing moves.
// Only rank 0 prints and writes --benchmark_out.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "mnist_ddp/dist/mpi_communicator.hpp"  // <mpi.h>, MPI_CHECK

namespace mnist_ddp::bench {

// 4 B … 64 MiB by powers of 4, in bytes.
inline std::vector<std::size_t> allreduce_sizes_bytes() {
  std::vector<std::size_t> sizes;
  for (std::size_t b = 4; b <= (std::size_t{64} << 20); b *= 4) sizes.push_back(b);
  return sizes;
}

inline double bus_bandwidth_factor(int ranks) { return ranks > 1 ? 2.0 * (ranks - 1) / ranks : 0.0; }

// Sums `count` floats in place across the ranks and returns when this rank's
// result is complete (a device all-reduce synchronises its stream). The buffer
// belongs to the callable and holds at least the largest size.
using AllreduceCall = std::function<void(std::size_t count)>;

// Registers `family`/bytes:N for every size and `family`/gradient for the
// gradient buffer. ranks: the communicator's size (for busbw).
inline void register_allreduce_benchmarks(const std::string& family, const AllreduceCall& call,
                                          std::size_t gradient_floats, int ranks) {
  auto body = [call, ranks](benchmark::State& state, std::size_t count) {
    const double bytes = 4.0 * static_cast<double>(count);
    for (int i = 0; i < 5; ++i) call(count);  // warm-up: connections, registration, caches
    double total = 0;
    for (auto _ : state) {
      MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
      const auto t = std::chrono::steady_clock::now();
      call(count);
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
      MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &elapsed, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
      state.SetIterationTime(elapsed);
      total += elapsed;
    }
    // One rank reduces nothing (the call returns at once): no bandwidth to speak of.
    const double algbw =
        ranks > 1 && total > 0 ? bytes * static_cast<double>(state.iterations()) / total / 1e9 : 0.0;
    state.counters["bytes"] = bytes;
    state.counters["ranks"] = ranks;
    state.counters["algbw_GB/s"] = algbw;
    state.counters["busbw_GB/s"] = algbw * bus_bandwidth_factor(ranks);
  };
  for (const std::size_t bytes : allreduce_sizes_bytes()) {
    const std::size_t count = bytes / 4;
    benchmark::RegisterBenchmark((family + "/bytes:" + std::to_string(bytes)).c_str(),
                                 [body, count](benchmark::State& s) { body(s, count); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::RegisterBenchmark((family + "/gradient").c_str(),
                               [body, gradient_floats](benchmark::State& s) {
                                 body(s, gradient_floats);
                                 s.SetLabel(std::to_string(gradient_floats) + " floats");
                               })
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

// A reporter that prints nothing, for the ranks other than 0.
class SilentReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

// Runs the registered benchmarks on every rank; only rank 0 reports. The other
// ranks drop --benchmark_out* so that they neither create nor truncate the file.
inline int run_benchmarks_rank0_reports(int argc, char** argv, int rank) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i)
    if (rank == 0 || i == 0 || std::strncmp(argv[i], "--benchmark_out", 15) != 0) args.push_back(argv[i]);
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;
  if (rank == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    SilentReporter silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
  }
  benchmark::Shutdown();
  return 0;
}

}  // namespace mnist_ddp::bench

// bench_allreduce.cpp — latency and bandwidth of the gradient all-reduce that
// training uses: MpiCommunicator::allreduce_sum (MPI_Allreduce, in place, float
// sum) on host memory, for 4 B … 64 MiB and the seed CNN's gradient.
//
//   mpirun -np 2 build/bench/bench_allreduce [--benchmark_out=F.json ...]
//
// Rows BM_AllreduceMpi/bytes:N and BM_AllreduceMpi/gradient; time per call is the
// maximum over the ranks; counters algbw_GB/s and busbw_GB/s (allreduce_bench.hpp).
// The context names the ranks, nodes, the MPI library and whether the ranks
// outnumber the cores (then the ranks share cores and the times say more about the
// scheduler than about MPI). The NCCL variant on device memory is in bench_cuda.cu
// and registers through the same function.
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "allreduce_bench.hpp"
#include "mnist_ddp/dist/mpi_communicator.hpp"
#include "mnist_ddp/nn/model.hpp"

int main(int argc, char** argv) {
  using namespace mnist_ddp;
  MpiRuntime mpi(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  try {
    MpiCommunicator comm;
    const std::size_t gradient_floats = Model(seed_cnn(), kMnistInput, 1).params().size();

    char library[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_CHECK(MPI_Get_library_version(library, &len));
    std::string lib(library, len);
    lib = lib.substr(0, lib.find_first_of(",\n"));
    std::int64_t node_count = comm.local_rank() == 0 ? 1 : 0;
    comm.allreduce_sum(&node_count, 1);
    const unsigned cores = std::thread::hardware_concurrency();
    benchmark::AddCustomContext("mpi_ranks", std::to_string(comm.size()));
    benchmark::AddCustomContext("nodes", std::to_string(node_count));
    benchmark::AddCustomContext("mpi_library", lib);
    benchmark::AddCustomContext("memory", "host");
    benchmark::AddCustomContext("gradient_floats", std::to_string(gradient_floats));
    if (static_cast<unsigned>(comm.local_size()) > cores)
      benchmark::AddCustomContext("oversubscribed", std::to_string(comm.local_size()) + " ranks on " +
                                                        std::to_string(cores) + " cores of a node: times are distorted");

    std::vector<float> buffer(std::max(gradient_floats, bench::allreduce_sizes_bytes().back() / 4), 0.0f);  // zeros stay zeros: no overflow over iterations
    bench::register_allreduce_benchmarks(
        "BM_AllreduceMpi", [&comm, &buffer](std::size_t count) { comm.allreduce_sum(buffer.data(), count); },
        gradient_floats, comm.size());
    return bench::run_benchmarks_rank0_reports(argc, argv, comm.rank());
  } catch (const std::exception& e) {
    std::cerr << "bench_allreduce (rank " << rank << "): " << e.what() << '\n';
    mpi.abort(1);
  }
}

// mpi_main.cpp — the GoogleTest main of the MPI test binary.
//
// Every rank runs every test (the tests are collective: each one calls the
// same collectives in the same order on all ranks), so this main has to do
// three things gtest_main cannot: own MPI's lifetime (MpiRuntime around
// RUN_ALL_TESTS), keep the output readable (only rank 0 prints gtest's usual
// report; the other ranks print just their own failures, prefixed with the
// rank, so a failure seen only on rank 3 is not lost), and make the exit code
// honest (a failure on ANY rank fails the whole job — mpirun reports the first
// non-zero exit, but we reduce the flag so every rank returns the same code).
// One compute thread per rank: the tests run oversubscribed (up to 7 ranks on
// a 2-core machine), and OpenMP teams per rank would only fight over cores.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <exception>
#include <string>

#include "mnist_ddp/cpu/threads.hpp"
#include "mnist_ddp/dist/mpi_communicator.hpp"

namespace {

// On ranks other than 0: one line per failed assertion, "[rank r] file:line: message".
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  // The test's name is remembered here: UnitTest::current_test_info() takes
  // the mutex that gtest holds while it reports a part result (deadlock).
  void OnTestStart(const ::testing::TestInfo& info) override {
    test_ = std::string(info.test_suite_name()) + "." + info.name();
  }
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s: %s:%d: %s\n", rank_, test_.c_str(), r.file_name() ? r.file_name() : "?",
                 r.line_number(), r.summary());
    std::fflush(stderr);
  }

 private:
  int rank_;
  std::string test_ = "?";
};

}  // namespace

int main(int argc, char** argv) {
  int code = 1;
  try {
    mnist_ddp::MpiRuntime mpi(&argc, &argv);
    ::testing::InitGoogleTest(&argc, argv);
    mnist_ddp::set_cpu_threads(1);

    int rank = 0;
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    if (rank != 0) {
      ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new RankFailurePrinter(rank));
    }

    const int local_failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
    int any_failed = local_failed;
    MPI_CHECK(MPI_Allreduce(&local_failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    if (rank == 0 && any_failed && !local_failed)
      std::fprintf(stderr, "mpi_tests: rank 0 passed, but another rank failed (see its [rank N] lines)\n");
    code = any_failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpi_tests: fatal: %s\n", e.what());
    code = 2;
  }
  return code;
}

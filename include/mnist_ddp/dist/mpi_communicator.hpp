// mpi_communicator.hpp — the Communicator over MPI, and MPI's lifetime.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>
#include <vector>

#include "mnist_ddp/dist/comm_watchdog.hpp"
#include "mnist_ddp/dist/communicator.hpp"

// Checks an MPI call; throws RuntimeError with file:line and MPI's message.
#define MPI_CHECK(call)                                                                       \
  do {                                                                                        \
    const int mpi_check_rc_ = (call);                                                         \
    if (mpi_check_rc_ != MPI_SUCCESS) ::mnist_ddp::throw_mpi_error(mpi_check_rc_, #call, __FILE__, __LINE__); \
  } while (0)

namespace mnist_ddp {

[[noreturn]] void throw_mpi_error(int code, const char* call, const char* file, int line);

// MPI_Init_thread on construction, MPI_Finalize on destruction (unless aborted).
// It asks for MPI_THREAD_MULTIPLE: the compute threads never call MPI, but the
// communicator's watchdog thread may call MPI_Abort while the main thread is
// blocked in a collective, which only that level allows.
class MpiRuntime {
 public:
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;
  // Ends every rank of the job now with `code` (a failure on one rank must not hang the others).
  [[noreturn]] void abort(int code);
  // The thread level MPI provides (MPI_THREAD_SINGLE ... MPI_THREAD_MULTIPLE).
  int thread_level() const { return thread_level_; }

 private:
  int thread_level_ = MPI_THREAD_SINGLE;
};

class MpiCommunicator final : public Communicator {
 public:
  // World communicator; the node-local rank comes from MPI_Comm_split_type(SHARED).
  // comm_timeout_seconds > 0 starts a CommWatchdog: a blocking collective that
  // has not completed after that long ends the job with a message, by
  // MPI_Abort where MPI's thread level allows a second thread to call it, else
  // by _exit(1) (the launcher then ends the other ranks). 0: no watchdog.
  explicit MpiCommunicator(double comm_timeout_seconds = 0);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  void allreduce_sum(float* data, std::size_t count) override;
  void allreduce_sum(double* data, std::size_t count) override;
  void allreduce_sum(std::int64_t* data, std::size_t count) override;
  void broadcast(void* data, std::size_t bytes, int root) override;
  void barrier() override;
  void start_allreduce_sum(float* data, std::size_t count) override;
  void progress() override;
  void wait_all() override;

 private:
  // The scope of one blocking collective, watched when there is a watchdog.
  CommWatchdog::Scope watch(const char* collective) { return CommWatchdog::Scope(watchdog_.get(), collective); }

  MPI_Comm node_ = MPI_COMM_NULL;
  std::vector<MPI_Request> pending_;
  std::unique_ptr<CommWatchdog> watchdog_;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

}  // namespace mnist_ddp

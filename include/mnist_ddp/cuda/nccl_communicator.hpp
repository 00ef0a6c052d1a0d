// nccl_communicator.hpp — gradient averaging across GPUs with NCCL.
//
// Bootstrap: rank 0 calls ncclGetUniqueId, the host communicator (MPI)
// broadcasts the id, and every rank joins with ncclCommInitRankConfig; each
// rank drives one GPU, the current device when the communicator is made.
//
// Ordering without host synchronisation: NCCL runs on its own stream.
// after(compute) makes that stream wait for the work queued so far on the
// compute stream (an event), so a bucket's all-reduce starts as soon as the
// backward kernels of its layers are done; before(compute) makes the compute
// stream wait for the reductions queued so far, before the optimizer reads
// the gradients. The host only queues work.
//
// Failures, and a peer that died or hangs: the communicator is non-blocking
// (config.blocking = 0), so no NCCL call blocks the host. The only places
// where the host waits for the GPU are synchronize(), wait() and the destructor; they
// poll the event and ncclCommGetAsyncError, and after `timeout_seconds`
// without completion (or on an asynchronous NCCL error) they call
// ncclCommAbort and throw RuntimeError, which ends the job (MPI_Abort) instead
// of hanging. The CUDA training backend waits only through synchronize().
#pragma once

#include <nccl.h>

#include <cstddef>
#include <string>

#include "mnist_ddp/cuda/raii.hpp"
#include "mnist_ddp/dist/communicator.hpp"

namespace mnist_ddp::cuda {

class NcclCommunicator {
 public:
  // Collective over `host` (same rank numbering). timeout_seconds <= 0: wait without limit.
  NcclCommunicator(Communicator& host, double timeout_seconds);
  ~NcclCommunicator();  // flushes and destroys the communicator, or aborts it if it failed
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  cudaStream_t stream() const { return stream_.get(); }
  double timeout_seconds() const { return timeout_; }

  // The communication stream waits for the work queued so far on `compute`.
  void after(cudaStream_t compute);
  // `compute` waits for the communication queued so far.
  void before(cudaStream_t compute);

  // In-place element-wise mean over the ranks of `count` device floats (ncclAvg),
  // queued on the communication stream.
  void allreduce_mean(float* data, std::size_t count);
  // In-place element-wise sum over the ranks, queued on the communication stream.
  void allreduce_sum(float* data, std::size_t count);
  // Out of place: recv = Σ send over the ranks (on one rank: a copy on the NCCL stream).
  void allreduce_sum(const float* send, float* recv, std::size_t count);
  // In-place sum of `count` device doubles (--sync-bn's BatchNorm sums), on the communication stream.
  void allreduce_sum(double* data, std::size_t count);
  // Root's `count` device floats to every rank, queued on the communication stream.
  void broadcast(float* data, std::size_t count, int root);

  // Blocks the host until the work queued so far on `stream` is done, watching for
  // NCCL errors and the timeout (then: abort, throw RuntimeError naming `what`).
  void synchronize(cudaStream_t stream, const char* what);
  // The same for the work before the last record of `event`.
  void wait(const Event& event, const char* what);

  // Aborts the communicator (idempotent, never throws); later calls throw.
  void abort() noexcept;
  bool aborted() const { return aborted_; }

  // The NCCL library's version, "2.28.9" (the one loaded at run time).
  static std::string library_version();

 private:
  // After a call returned ncclInProgress: waits until the communicator is ready.
  void await_ready(const char* what);
  // Throws (after aborting) if NCCL reports an asynchronous error.
  void check_async(const char* what);
  [[noreturn]] void fail(const std::string& message);
  void require_usable(const char* what) const;
  // Every all-reduce: queued on the communication stream (nothing for count 0).
  void allreduce(const void* send, void* recv, std::size_t count, ncclDataType_t type, ncclRedOp_t op,
                 const char* what);

  ncclComm_t comm_ = nullptr;
  int rank_ = 0, size_ = 1;
  double timeout_ = 0;
  bool aborted_ = false;
  Stream stream_;
  Event compute_done_, comm_done_, sync_;
};

}  // namespace mnist_ddp::cuda

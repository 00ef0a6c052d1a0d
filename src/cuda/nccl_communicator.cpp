// nccl_communicator.cpp — NCCL bootstrap over MPI, stream ordering, watched waits.
#include "mnist_ddp/cuda/nccl_communicator.hpp"

#include <chrono>
#include <cstdio>
#include <exception>
#include <sstream>
#include <thread>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp::cuda {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string nccl_text(ncclResult_t r, ncclComm_t comm) {
  std::string s = ncclGetErrorString(r);
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && last[0] != '\0') s += std::string(": ") + last;
  return s;
}

// Short waits: the GPU usually finishes within microseconds of the first poll.
void pause() { std::this_thread::sleep_for(std::chrono::microseconds(20)); }

}  // namespace

// The call's text and file:line, like the other check macros.
#define MNIST_NCCL_FAIL(msg)                                                                        \
  do {                                                                                              \
    std::ostringstream mnist_nccl_os_;                                                              \
    mnist_nccl_os_ << msg << " [" << __FILE__ << ':' << __LINE__ << ']';                            \
    fail(mnist_nccl_os_.str());                                                                     \
  } while (0)

// An NCCL call on this communicator: an error aborts it and throws; ncclInProgress
// (non-blocking mode) waits until the call has been queued.
#define MNIST_NCCL_CALL(expr)                                                                       \
  do {                                                                                              \
    const ncclResult_t mnist_nccl_r_ = (expr);                                                      \
    if (mnist_nccl_r_ == ncclInProgress) {                                                          \
      await_ready(#expr);                                                                           \
    } else if (mnist_nccl_r_ != ncclSuccess) {                                                      \
      MNIST_NCCL_FAIL("NCCL error " << static_cast<int>(mnist_nccl_r_) << " ("                       \
                                    << nccl_text(mnist_nccl_r_, comm_) << ") in " #expr);            \
    }                                                                                               \
  } while (0)

NcclCommunicator::NcclCommunicator(Communicator& host, double timeout_seconds)
    : rank_(host.rank()), size_(host.size()), timeout_(timeout_seconds) {
  ncclUniqueId id{};
  if (rank_ == 0) MNIST_NCCL_CALL(ncclGetUniqueId(&id));
  host.broadcast(&id, sizeof id, 0);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // no call blocks the host: waits are ours, watched (see the header)
  MNIST_NCCL_CALL(ncclCommInitRankConfig(&comm_, size_, id, rank_, &config));
  // A rank that returned ncclSuccess at once may still be connecting in the background.
  await_ready("ncclCommInitRankConfig");
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ == nullptr || aborted_) return;
  // Unwinding from an error: peers may never reach the matching calls, so finalizing
  // could wait forever. Abort instead.
  if (std::uncaught_exceptions() > 0) {
    abort();
    return;
  }
  try {
    MNIST_NCCL_CALL(ncclCommFinalize(comm_));  // flushes the queued operations
    await_ready("ncclCommFinalize");
    const ncclResult_t r = ncclCommDestroy(comm_);
    if (r != ncclSuccess && r != ncclInProgress)
      std::fprintf(stderr, "warning: NCCL error in ncclCommDestroy: %s\n", nccl_text(r, nullptr).c_str());
    comm_ = nullptr;
  } catch (const std::exception& e) {  // fail() has aborted the communicator already
    std::fprintf(stderr, "warning: %s\n", e.what());
  }
}

void NcclCommunicator::after(cudaStream_t compute) {
  compute_done_.record(compute);
  stream_.wait(compute_done_);
}

void NcclCommunicator::before(cudaStream_t compute) {
  comm_done_.record(stream_);
  MNIST_CUDA_CHECK(cudaStreamWaitEvent(compute, comm_done_, 0));
}

void NcclCommunicator::allreduce(const void* send, void* recv, std::size_t count, ncclDataType_t type,
                                  ncclRedOp_t op, const char* what) {
  require_usable(what);
  if (count == 0) return;
  MNIST_NCCL_CALL(ncclAllReduce(send, recv, count, type, op, comm_, stream_.get()));
}

void NcclCommunicator::allreduce_mean(float* data, std::size_t count) {
  allreduce(data, data, count, ncclFloat, ncclAvg, "allreduce_mean");
}

void NcclCommunicator::allreduce_sum(float* data, std::size_t count) { allreduce_sum(data, data, count); }

void NcclCommunicator::allreduce_sum(const float* send, float* recv, std::size_t count) {
  allreduce(send, recv, count, ncclFloat, ncclSum, "allreduce_sum");
}

void NcclCommunicator::allreduce_sum(double* data, std::size_t count) {
  allreduce(data, data, count, ncclDouble, ncclSum, "allreduce_sum (double)");
}

void NcclCommunicator::broadcast(float* data, std::size_t count, int root) {
  require_usable("broadcast");
  MNIST_ASSERT(root >= 0 && root < size_, "broadcast root " << root << " of " << size_ << " ranks");
  if (count == 0) return;
  MNIST_NCCL_CALL(ncclBroadcast(data, data, count, ncclFloat, root, comm_, stream_.get()));
}

void NcclCommunicator::synchronize(cudaStream_t stream, const char* what) {
  require_usable(what);
  sync_.record(stream);
  wait(sync_, what);
}

void NcclCommunicator::wait(const Event& event, const char* what) {
  require_usable(what);
  const auto start = Clock::now();
  while (!event.done()) {
    check_async(what);
    if (timeout_ > 0 && seconds_since(start) > timeout_)
      MNIST_NCCL_FAIL("rank " << rank_ << ": the GPU work of " << what << " has not completed after " << timeout_
                              << " s (a rank died or hangs?); NCCL communicator aborted");
    pause();
  }
}

void NcclCommunicator::abort() noexcept {
  if (comm_ == nullptr || aborted_) return;
  aborted_ = true;
  const ncclResult_t r = ncclCommAbort(comm_);
  if (r != ncclSuccess && r != ncclInProgress)
    std::fprintf(stderr, "warning: NCCL error in ncclCommAbort: %s\n", ncclGetErrorString(r));
  comm_ = nullptr;
}

std::string NcclCommunicator::library_version() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "unknown";
  // NCCL >= 2.9 encodes major * 10000 + minor * 100 + patch.
  return std::to_string(v / 10000) + '.' + std::to_string(v / 100 % 100) + '.' + std::to_string(v % 100);
}

void NcclCommunicator::await_ready(const char* what) {
  const auto start = Clock::now();
  for (;;) {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
    if (r != ncclSuccess)
      MNIST_NCCL_FAIL("NCCL error " << static_cast<int>(r) << " (" << nccl_text(r, comm_)
                                    << ") in ncclCommGetAsyncError after " << what);
    if (state == ncclSuccess) return;
    if (state != ncclInProgress)
      MNIST_NCCL_FAIL("NCCL error " << static_cast<int>(state) << " (" << nccl_text(state, comm_) << ") in " << what);
    if (timeout_ > 0 && seconds_since(start) > timeout_)
      MNIST_NCCL_FAIL("rank " << rank_ << ": " << what << " still in progress after " << timeout_
                              << " s (a rank died or hangs?); NCCL communicator aborted");
    pause();
  }
}

void NcclCommunicator::check_async(const char* what) {
  ncclResult_t state = ncclSuccess;
  const ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
  if (r != ncclSuccess)
    MNIST_NCCL_FAIL("NCCL error " << static_cast<int>(r) << " (" << nccl_text(r, comm_)
                                  << ") in ncclCommGetAsyncError while waiting for " << what);
  if (state != ncclSuccess && state != ncclInProgress)
    MNIST_NCCL_FAIL("rank " << rank_ << ": NCCL error " << static_cast<int>(state) << " ("
                            << nccl_text(state, comm_) << ") while waiting for " << what
                            << "; NCCL communicator aborted");
}

void NcclCommunicator::fail(const std::string& message) {
  abort();
  throw RuntimeError(message);
}

void NcclCommunicator::require_usable(const char* what) const {
  MNIST_CHECK(comm_ != nullptr && !aborted_, RuntimeError,
              "NCCL communicator used after it was aborted (" << what << ")");
}

}  // namespace mnist_ddp::cuda

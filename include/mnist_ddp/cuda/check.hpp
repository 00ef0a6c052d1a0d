// check.hpp — checked calls into CUDA, cuDNN, cuBLAS and NCCL.
//
// Every library call of the GPU backend goes through one of these macros. A
// failure throws mnist_ddp::RuntimeError (exit code 1) whose message names the
// library, its status code and message, the failing expression and file:line:
//   CUDA error cudaErrorMemoryAllocation (out of memory) in cudaMalloc(&p, bytes) [src/cuda/raii.cpp:31]
// The *_WARN variants never throw: they are for destructors, where a second
// exception would terminate the program; they print the same text to stderr.
// MNIST_CUDA_CHECK_LAUNCH() follows every kernel launch (a bad launch
// configuration is only reported by cudaGetLastError). cudaGetLastError returns
// the last error of ANY runtime call on the thread, so every place that handles
// a CUDA error clears it (clear_last_cuda_error): the throw/warn functions here,
// and Event::done() for the cudaErrorNotReady of a poll.
//
// MNIST_NCCL_CHECK expands to a call of ncclGetErrorString/ncclGetLastError,
// so it can be used wherever <nccl.h> is included; this header does not
// include NCCL, keeping the layers independent of it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp::cuda::detail {

// Throws RuntimeError: "<library> error <code> (<message>[: <detail>]) in <expr> [file:line]".
[[noreturn]] void throw_library_error(const char* library, const char* code, const char* message, const char* detail,
                                      const char* expr, const char* file, int line);
// The same text on stderr, prefixed "warning: "; never throws.
void warn_library_error(const char* library, const char* code, const char* message, const char* expr,
                        const char* file, int line) noexcept;

// Resets the thread's last CUDA error (cudaGetLastError), after an error was handled.
void clear_last_cuda_error() noexcept;

// One overload per library status type, so that one macro checks them all.
inline bool succeeded(cudaError_t s) { return s == cudaSuccess; }
inline bool succeeded(cudnnStatus_t s) { return s == CUDNN_STATUS_SUCCESS; }
inline bool succeeded(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS; }
// For a CUDA status both clear the thread's last error (a reported error must not
// fail a later launch check). warn_error warns unless the status is success or the
// CUDA runtime is already unloading (process exit).
[[noreturn]] void throw_error(cudaError_t status, const char* expr, const char* file, int line);
[[noreturn]] void throw_error(cudnnStatus_t status, const char* expr, const char* file, int line);
[[noreturn]] void throw_error(cublasStatus_t status, const char* expr, const char* file, int line);
void warn_error(cudaError_t status, const char* expr, const char* file, int line) noexcept;
void warn_error(cudnnStatus_t status, const char* expr, const char* file, int line) noexcept;
void warn_error(cublasStatus_t status, const char* expr, const char* file, int line) noexcept;

}  // namespace mnist_ddp::cuda::detail

// `expr` returns a CUDA, cuDNN or cuBLAS status; the overloads above say which.
#define MNIST_GPU_CHECK(expr)                                                                 \
  do {                                                                                        \
    const auto mnist_gpu_status_ = (expr);                                                    \
    if (!::mnist_ddp::cuda::detail::succeeded(mnist_gpu_status_))                             \
      ::mnist_ddp::cuda::detail::throw_error(mnist_gpu_status_, #expr, __FILE__, __LINE__);   \
  } while (0)
#define MNIST_GPU_WARN(expr) ::mnist_ddp::cuda::detail::warn_error((expr), #expr, __FILE__, __LINE__)

// The library named at the call site, for the reader; all check alike.
#define MNIST_CUDA_CHECK(expr) MNIST_GPU_CHECK(expr)
#define MNIST_CUDNN_CHECK(expr) MNIST_GPU_CHECK(expr)
#define MNIST_CUBLAS_CHECK(expr) MNIST_GPU_CHECK(expr)
#define MNIST_CUDA_WARN(expr) MNIST_GPU_WARN(expr)
#define MNIST_CUDNN_WARN(expr) MNIST_GPU_WARN(expr)
#define MNIST_CUBLAS_WARN(expr) MNIST_GPU_WARN(expr)

// After a kernel launch: the launch error, if any (does not synchronise).
#define MNIST_CUDA_CHECK_LAUNCH() MNIST_CUDA_CHECK(cudaGetLastError())

// Needs <nccl.h> at the point of use.
// ncclInProgress (a non-blocking communicator still working) is not a failure.
#define MNIST_NCCL_CHECK(expr)                                                                               \
  do {                                                                                                       \
    const ncclResult_t mnist_nccl_status_ = (expr);                                                          \
    if (mnist_nccl_status_ != ncclSuccess && mnist_nccl_status_ != ncclInProgress)                           \
      ::mnist_ddp::cuda::detail::throw_library_error(                                                        \
          "NCCL", std::to_string(static_cast<int>(mnist_nccl_status_)).c_str(),                              \
          ncclGetErrorString(mnist_nccl_status_), ncclGetLastError(nullptr), #expr, __FILE__, __LINE__);     \
  } while (0)


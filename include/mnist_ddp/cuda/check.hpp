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

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* expr, const char* file, int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line);
// Both clear the thread's last error (a reported error must not fail a later launch check).
// Warns unless the status is success or the runtime is already unloading (process exit).
void warn_cuda_error(cudaError_t status, const char* expr, const char* file, int line) noexcept;
void warn_cudnn_error(cudnnStatus_t status, const char* expr, const char* file, int line) noexcept;
void warn_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line) noexcept;

}  // namespace mnist_ddp::cuda::detail

#define MNIST_CUDA_CHECK(expr)                                                                   \
  do {                                                                                           \
    const cudaError_t mnist_cuda_status_ = (expr);                                               \
    if (mnist_cuda_status_ != cudaSuccess)                                                       \
      ::mnist_ddp::cuda::detail::throw_cuda_error(mnist_cuda_status_, #expr, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: the launch error, if any (does not synchronise).
#define MNIST_CUDA_CHECK_LAUNCH() MNIST_CUDA_CHECK(cudaGetLastError())

#define MNIST_CUDNN_CHECK(expr)                                                                    \
  do {                                                                                             \
    const cudnnStatus_t mnist_cudnn_status_ = (expr);                                              \
    if (mnist_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                               \
      ::mnist_ddp::cuda::detail::throw_cudnn_error(mnist_cudnn_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define MNIST_CUBLAS_CHECK(expr)                                                                     \
  do {                                                                                               \
    const cublasStatus_t mnist_cublas_status_ = (expr);                                              \
    if (mnist_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                               \
      ::mnist_ddp::cuda::detail::throw_cublas_error(mnist_cublas_status_, #expr, __FILE__, __LINE__); \
  } while (0)

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

#define MNIST_CUDA_WARN(expr) ::mnist_ddp::cuda::detail::warn_cuda_error((expr), #expr, __FILE__, __LINE__)
#define MNIST_CUDNN_WARN(expr) ::mnist_ddp::cuda::detail::warn_cudnn_error((expr), #expr, __FILE__, __LINE__)
#define MNIST_CUBLAS_WARN(expr) ::mnist_ddp::cuda::detail::warn_cublas_error((expr), #expr, __FILE__, __LINE__)

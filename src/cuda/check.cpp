// check.cpp — the messages behind the CUDA/cuDNN/cuBLAS/NCCL check macros.
#include "mnist_ddp/cuda/check.hpp"

#include <cstdio>
#include <string>

namespace mnist_ddp::cuda::detail {

namespace {

std::string format(const char* library, const char* code, const char* message, const char* detail, const char* expr,
                   const char* file, int line) {
  std::string s = std::string(library) + " error " + code + " (" + (message != nullptr ? message : "?");
  if (detail != nullptr && detail[0] != '\0') s += std::string(": ") + detail;
  s += std::string(") in ") + expr + " [" + file + ":" + std::to_string(line) + "]";
  return s;
}

// cuDNN 9 keeps a per-thread text about the last failure, more specific than the status.
std::string cudnn_last_message() {
  char buffer[512] = {};
  cudnnGetLastErrorString(buffer, sizeof(buffer));
  return buffer;
}

}  // namespace

void throw_library_error(const char* library, const char* code, const char* message, const char* detail,
                         const char* expr, const char* file, int line) {
  throw RuntimeError(format(library, code, message, detail, expr, file, line));
}

void warn_library_error(const char* library, const char* code, const char* message, const char* expr,
                        const char* file, int line) noexcept {
  std::fprintf(stderr, "warning: %s\n", format(library, code, message, nullptr, expr, file, line).c_str());
}

// The runtime keeps the last error of any call on the thread until cudaGetLastError
// reads it; a reported, non-sticky error must not stay behind, or the next
// MNIST_CUDA_CHECK_LAUNCH would throw it again for an unrelated launch. (A sticky
// error — a faulted context — cannot be cleared and is reported by every call.)
void clear_last_cuda_error() noexcept { (void)cudaGetLastError(); }

void throw_error(cudaError_t status, const char* expr, const char* file, int line) {
  clear_last_cuda_error();
  throw_library_error("CUDA", cudaGetErrorName(status), cudaGetErrorString(status), nullptr, expr, file, line);
}

void throw_error(cudnnStatus_t status, const char* expr, const char* file, int line) {
  const std::string detail = cudnn_last_message();
  throw_library_error("cuDNN", std::to_string(static_cast<int>(status)).c_str(), cudnnGetErrorString(status),
                      detail.c_str(), expr, file, line);
}

void throw_error(cublasStatus_t status, const char* expr, const char* file, int line) {
  throw_library_error("cuBLAS", cublasGetStatusName(status), cublasGetStatusString(status), nullptr, expr, file,
                      line);
}

void warn_error(cudaError_t status, const char* expr, const char* file, int line) noexcept {
  // At process exit the runtime may be torn down before static owners release.
  if (status == cudaSuccess || status == cudaErrorCudartUnloading) return;
  clear_last_cuda_error();
  warn_library_error("CUDA", cudaGetErrorName(status), cudaGetErrorString(status), expr, file, line);
}

void warn_error(cudnnStatus_t status, const char* expr, const char* file, int line) noexcept {
  if (status == CUDNN_STATUS_SUCCESS) return;
  warn_library_error("cuDNN", std::to_string(static_cast<int>(status)).c_str(), cudnnGetErrorString(status), expr,
                     file, line);
}

void warn_error(cublasStatus_t status, const char* expr, const char* file, int line) noexcept {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  warn_library_error("cuBLAS", cublasGetStatusName(status), cublasGetStatusString(status), expr, file, line);
}

}  // namespace mnist_ddp::cuda::detail

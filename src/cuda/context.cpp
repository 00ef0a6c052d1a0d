// context.cpp — device, stream, library handles and shared scratch of one rank.
#include "mnist_ddp/cuda/context.hpp"

#include <cstdio>
#include <vector>

namespace mnist_ddp::cuda {

namespace {

// Runs before the members that need the device current (stream, handles).
int make_current(int device) {
  MNIST_CHECK(device >= 0, RuntimeError, "CUDA device index " << device);
  MNIST_CUDA_CHECK(cudaSetDevice(device));
  return device;
}

std::string version_text(int v, int major_div, int minor_div, int minor_mod) {
  return std::to_string(v / major_div) + "." + std::to_string((v / minor_div) % minor_mod);
}

}  // namespace

CudaContext::CudaContext(int device, const CudaOptions& options)
    : device_(make_current(device)), options_(options) {
  MNIST_CUDNN_CHECK(cudnnSetStream(cudnn_.get(), stream_.get()));
  MNIST_CUBLAS_CHECK(cublasSetStream(cublas_.get(), stream_.get()));
  // Without TF32, CUBLAS_DEFAULT_MATH computes FP32 GEMMs with FP32 FMAs.
  MNIST_CUBLAS_CHECK(
      cublasSetMathMode(cublas_.get(), options_.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  // alpha/beta are passed by host pointer everywhere.
  MNIST_CUBLAS_CHECK(cublasSetPointerMode(cublas_.get(), CUBLAS_POINTER_MODE_HOST));
}

void CudaContext::reserve_workspace(std::size_t bytes) {
  if (bytes <= workspace_.bytes()) return;
  synchronize();  // queued calls may still use the old workspace
  workspace_.reset(bytes);
}

const float* CudaContext::ones(std::size_t count) {
  if (count > ones_.size()) {
    synchronize();
    ones_.reset(count);
    const std::vector<float> host(count, 1.0f);
    ones_.upload(host.data(), count);
  }
  return ones_.data();
}

std::string CudaContext::description() const {
  cudaDeviceProp prop{};
  MNIST_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
  int runtime = 0, driver = 0;
  MNIST_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  MNIST_CUDA_CHECK(cudaDriverGetVersion(&driver));
  int cublas_version = 0;
  MNIST_CUBLAS_CHECK(cublasGetVersion(cublas_.get(), &cublas_version));
  char memory[32];
  std::snprintf(memory, sizeof(memory), "%.1f GiB", static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024 * 1024));
  const std::size_t cudnn = cudnnGetVersion();  // major·10000 + minor·100 + patch (cuDNN 9)
  return std::string(prop.name) + " (device " + std::to_string(device_) + ", sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ", " + memory + "), CUDA runtime " + version_text(runtime, 1000, 10, 100) +
         ", driver " + version_text(driver, 1000, 10, 100) + ", cuDNN " + std::to_string(cudnn / 10000) + "." +
         std::to_string((cudnn / 100) % 100) + "." + std::to_string(cudnn % 100) + ", cuBLAS " +
         std::to_string(cublas_version / 10000) + "." + std::to_string((cublas_version / 100) % 100) + "." +
         std::to_string(cublas_version % 100) + ", TF32 " + (options_.tf32 ? "on" : "off");
}

}  // namespace mnist_ddp::cuda

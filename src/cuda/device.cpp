// device.cpp — probing CUDA devices without failing where there are none.
#include "mnist_ddp/cuda/device.hpp"

#include <cuda_runtime.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "mnist_ddp/cuda/check.hpp"

namespace mnist_ddp::cuda {

namespace {

std::string error_text(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

std::string version_text(int v) { return std::to_string(v / 1000) + '.' + std::to_string(v % 1000 / 10); }

}  // namespace

DeviceProbe probe_devices() {
  DeviceProbe probe;
  probe.cuda_built = true;
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    detail::clear_last_cuda_error();  // leave no error behind for later calls
    int driver = 0;
    cudaDriverGetVersion(&driver);
    probe.error = (driver == 0 ? "no NVIDIA driver found; " : "") + std::string("cudaGetDeviceCount: ") + error_text(e);
    return probe;
  }
  if (count <= 0) {
    probe.error = "cudaGetDeviceCount found no device";
    return probe;
  }
  probe.gpu_count = count;
  return probe;
}

GpuUuid device_uuid(int device) {
  cudaDeviceProp prop{};
  MNIST_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  GpuUuid u{};
  for (std::size_t i = 0; i < u.size(); ++i) u[i] = static_cast<std::uint8_t>(prop.uuid.bytes[i]);
  return u;
}

void bind_device(int device) { MNIST_CUDA_CHECK(cudaSetDevice(device)); }

std::string describe_device(int device) {
  cudaDeviceProp prop{};
  MNIST_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  int driver = 0, runtime = 0;
  MNIST_CUDA_CHECK(cudaDriverGetVersion(&driver));
  MNIST_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  char memory[32];
  std::snprintf(memory, sizeof memory, "%.1f GiB", static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  std::ostringstream s;
  s << prop.name << " (sm_" << prop.major << prop.minor << ", " << memory << ", " << prop.multiProcessorCount
    << " SMs), driver " << version_text(driver) << ", runtime " << version_text(runtime);
  return s.str();
}

}  // namespace mnist_ddp::cuda

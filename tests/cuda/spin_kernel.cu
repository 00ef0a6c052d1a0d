// spin_kernel.cu — the test kernels of spin_kernel.hpp.
#include "spin_kernel.hpp"

#include "mnist_ddp/cuda/check.hpp"

namespace mnist_ddp::test {

namespace {

__global__ void spin_kernel(long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
}

__global__ void fill_kernel(float* x, std::size_t count, float value) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) x[i] = value;
}

}  // namespace

void spin(double milliseconds, cudaStream_t stream) {
  int device = 0, khz = 0;
  MNIST_CUDA_CHECK(cudaGetDevice(&device));
  MNIST_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device));
  spin_kernel<<<1, 1, 0, stream>>>(static_cast<long long>(milliseconds * khz));
  MNIST_CUDA_CHECK_LAUNCH();
}

void fill(float* x, std::size_t count, float value, cudaStream_t stream) {
  if (count == 0) return;
  fill_kernel<<<static_cast<unsigned>((count + 255) / 256), 256, 0, stream>>>(x, count, value);
  MNIST_CUDA_CHECK_LAUNCH();
}

}  // namespace mnist_ddp::test

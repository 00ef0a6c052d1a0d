// finite_check.cu — the non-finite flag kernel.
#include "mnist_ddp/cuda/finite_check.hpp"

#include <algorithm>

#include "mnist_ddp/cuda/check.hpp"

namespace mnist_ddp::cuda {

namespace {

__global__ void flag_nonfinite_kernel(const float* __restrict__ values, std::size_t count, unsigned int* flag) {
  unsigned int bad = 0;
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride)
    bad |= static_cast<unsigned int>((__float_as_uint(values[i]) & 0x7f800000u) == 0x7f800000u);
  // One write per warp that saw a bad value.
  if (__any_sync(0xffffffffu, bad != 0) && (threadIdx.x & 31u) == 0) atomicOr(flag, 1u);
}

}  // namespace

void flag_nonfinite(const float* values, std::size_t count, unsigned int* flag, cudaStream_t stream) {
  if (count == 0) return;
  constexpr int kThreads = 256;
  const std::size_t wanted = (count + kThreads - 1) / kThreads;
  const int blocks = static_cast<int>(std::min<std::size_t>(wanted, 1024));
  flag_nonfinite_kernel<<<blocks, kThreads, 0, stream>>>(values, count, flag);
  MNIST_CUDA_CHECK_LAUNCH();
}

}  // namespace mnist_ddp::cuda

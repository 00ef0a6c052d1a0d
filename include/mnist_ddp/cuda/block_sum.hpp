// block_sum.hpp — the fixed-order tree sum of two per-thread values over a block
// (device code, for .cu files). The tree does not depend on timing, so a sum
// repeats bit for bit; blockDim.x must be a power of two.
#pragma once

namespace mnist_ddp::cuda {

// Every thread of the block calls it with its own a and b; afterwards s_a[0] and
// s_b[0] (shared arrays of blockDim.x) hold the block's sums.
template <typename A, typename B>
__device__ void block_sum_pair(A* s_a, B* s_b, A a, B b) {
  s_a[threadIdx.x] = a;
  s_b[threadIdx.x] = b;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      s_a[threadIdx.x] += s_a[threadIdx.x + half];
      s_b[threadIdx.x] += s_b[threadIdx.x + half];
    }
    __syncthreads();
  }
}

}  // namespace mnist_ddp::cuda

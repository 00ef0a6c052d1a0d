// spin_kernel.hpp — test kernels: keep a stream busy, fill a buffer.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace mnist_ddp::test {

// One thread that spins for about `milliseconds` (by the GPU clock), queued on `stream`.
void spin(double milliseconds, cudaStream_t stream);
// x[i] = value for i < count, queued on `stream`.
void fill(float* x, std::size_t count, float value, cudaStream_t stream);

}  // namespace mnist_ddp::test

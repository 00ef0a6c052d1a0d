// finite_check.hpp — is there a NaN or an infinity in a device buffer?
//
// The GPU sibling of the trainer's host check (cpu/cpu_step_backend.hpp,
// all_finite): a grid-stride kernel tests the exponent bits of every value and
// raises a device flag. The caller reads the flag back at a sync point.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace mnist_ddp::cuda {

// Sets *flag (device) to 1 if any of the `count` device floats at `values` is
// NaN or infinite; never clears it (zero it first). Queued on `stream`.
void flag_nonfinite(const float* values, std::size_t count, unsigned int* flag, cudaStream_t stream);

}  // namespace mnist_ddp::cuda

// hd.hpp — marks functions shared by the CPU code and the CUDA kernels.
//
// The arithmetic that both backends must agree on (RNG, augmentation sampling,
// dropout masks, optimizer updates) is written once, as inline functions
// tagged MNIST_HD: compiled for the host by g++ and for host and device by nvcc.
#pragma once

#if defined(__CUDACC__)
#define MNIST_HD __host__ __device__ __forceinline__
#else
#define MNIST_HD inline
#endif

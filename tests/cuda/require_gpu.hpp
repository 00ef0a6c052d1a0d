// require_gpu.hpp — GPU tests skip, visibly and with the reason, where no GPU is usable.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "mnist_ddp/cuda/device.hpp"

namespace mnist_ddp::test {

// Empty when device 0 is usable; otherwise why not (the CUDA runtime's words).
inline std::string why_no_gpu() {
  static const std::string why = [] {
    const DeviceProbe p = cuda::probe_devices();
    return p.gpu_count > 0 ? std::string() : "no usable CUDA device: " + p.error;
  }();
  return why;
}

}  // namespace mnist_ddp::test

// In a TEST body: skip it (reported as SKIPPED with the reason) without a GPU.
#define MNIST_REQUIRE_GPU()                                                     \
  do {                                                                          \
    const std::string mnist_why_no_gpu_ = ::mnist_ddp::test::why_no_gpu();      \
    if (!mnist_why_no_gpu_.empty()) GTEST_SKIP() << mnist_why_no_gpu_;          \
  } while (0)

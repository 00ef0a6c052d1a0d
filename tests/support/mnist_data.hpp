// mnist_data.hpp — the data sets the tests train and evaluate on.
//
// real_mnist(): the MNIST files in MNIST_DDP_DATA_DIR, read once per test
// binary (tests skip when they are missing: scripts/setup.sh fetches them).
// synthetic_set(): a small set made up in memory, for tests that need real
// arithmetic but not real digits (step backends, CPU/GPU parity). One copy
// here, shared by the unit, MPI and CUDA test binaries.
#pragma once

#include <cstdint>

#include <gtest/gtest.h>

#include "mnist_ddp/data/dataset.hpp"

namespace mnist_ddp::test_support {

// The real data set, loaded on first use; nullptr when MNIST_DDP_DATA_DIR does
// not exist. The answer is the same on every rank (one machine), so a skip on
// nullptr is collective in the MPI tests too.
const Mnist* real_mnist();
// Where real_mnist() looks (MNIST_DDP_DATA_DIR).
const char* mnist_dir();

// `count` images of 60 random strokes (values 64..255 at rows and columns
// 4..23) on black, with random labels; the same set for the same seed.
MnistSet synthetic_set(std::int64_t count, std::uint32_t seed);

}  // namespace mnist_ddp::test_support

// In a test body: `data` is the real data set, or the test is skipped with the reason.
#define REQUIRE_MNIST(data)                                             \
  const ::mnist_ddp::Mnist* data = ::mnist_ddp::test_support::real_mnist(); \
  if (data == nullptr)                                                  \
  GTEST_SKIP() << "MNIST not found at " << ::mnist_ddp::test_support::mnist_dir() << " (run scripts/setup.sh)"

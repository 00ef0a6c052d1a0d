// random_vector.hpp — reproducible random inputs and weights for layer tests.
//
// The CPU layer and model tests and the CUDA parity tests fill buffers the
// same way, so that a parity failure can be replayed on the CPU side alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mnist_ddp::test_support {

// `count` floats uniform in [lo, hi) from a 64-bit Mersenne Twister seeded with `seed`.
std::vector<float> random_vector(std::size_t count, float lo, float hi, std::uint64_t seed);

}  // namespace mnist_ddp::test_support

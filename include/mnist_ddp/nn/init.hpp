// init.hpp — Keras's Glorot-uniform initialisation, addressed by (seed, layer, element).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "mnist_ddp/core/hd.hpp"
#include "mnist_ddp/core/rng.hpp"

namespace mnist_ddp {

// Glorot/Xavier uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
inline void glorot_uniform(float* w, std::size_t count, double fan_in, double fan_out, std::uint64_t seed,
                           std::uint32_t layer_index) {
  const float limit = static_cast<float>(std::sqrt(6.0 / (fan_in + fan_out)));
  for (std::size_t i = 0; i < count; i += 4) {
    const Philox4 r = random_bits(seed, RngStream::kInit, layer_index, static_cast<std::uint32_t>(i / 4), 0);
    for (std::size_t k = 0; k < 4 && i + k < count; ++k) w[i + k] = uniform(r.v[k], -limit, limit);
  }
}

}  // namespace mnist_ddp

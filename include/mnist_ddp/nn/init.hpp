// init.hpp — Keras's initial weights: Glorot-uniform kernels addressed by (seed, layer,
// element), zeros and ones; one definition for the CPU and GPU models.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "mnist_ddp/core/hd.hpp"
#include "mnist_ddp/core/rng.hpp"
#include "mnist_ddp/nn/model_layout.hpp"

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

// Keras's fans of a kernel: the receptive field (all axes but the last two) times
// the input or output channels.
inline void kernel_fans(const std::vector<std::size_t>& shape, double* fan_in, double* fan_out) {
  double receptive = 1.0;
  for (std::size_t i = 0; i + 2 < shape.size(); ++i) receptive *= static_cast<double>(shape[i]);
  *fan_in = receptive * static_cast<double>(shape[shape.size() - 2]);
  *fan_out = receptive * static_cast<double>(shape.back());
}

// A layer's initial weights into its host slices (Keras: Glorot-uniform kernels from
// (seed, layer_index), zero biases, BatchNorm gamma 1, beta 0, moving mean 0,
// moving variance 1).
inline void initialize_weights(const LayerLayout& l, float* params, float* state, std::uint64_t seed,
                               std::uint32_t layer_index) {
  for (const WeightSlot& w : l.weights) {
    float* v = (w.trainable ? params : state) + w.offset;
    if (w.init == WeightInit::kGlorotUniform) {
      double fan_in = 0.0, fan_out = 0.0;
      kernel_fans(w.shape, &fan_in, &fan_out);
      glorot_uniform(v, w.count(), fan_in, fan_out, seed, layer_index);
    } else {
      std::fill(v, v + w.count(), w.init == WeightInit::kOnes ? 1.0f : 0.0f);
    }
  }
}

}  // namespace mnist_ddp

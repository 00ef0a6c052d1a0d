// dropout_mask.hpp — which activations dropout keeps, shared by CPU and CUDA.
//
// The mask of a sample is drawn from (seed, epoch, sample index, layer, element),
// never from the batch position or the rank, so the same sample in the same
// epoch gets the same mask on any rank count and either backend. Kept units are
// scaled by 1/(1 - rate) (inverted dropout, as Keras does).
#pragma once

#include <cstdint>

#include "mnist_ddp/core/hd.hpp"
#include "mnist_ddp/core/rng.hpp"

namespace mnist_ddp {

// Random bits for elements [4*group, 4*group + 4) of one sample's activation in a layer.
MNIST_HD Philox4 dropout_bits(std::uint64_t seed, std::uint32_t epoch, std::int64_t sample, std::uint32_t layer,
                              std::uint32_t group) {
  return random_bits(seed, RngStream::kDropout, epoch, static_cast<std::uint32_t>(sample), (layer << 20) ^ group);
}

// The multiplier of one element: 0 (dropped) or 1/(1 - rate) (kept).
MNIST_HD float dropout_multiplier(std::uint32_t bits, float rate) {
  return uniform01(bits) >= rate ? 1.0f / (1.0f - rate) : 0.0f;
}

}  // namespace mnist_ddp

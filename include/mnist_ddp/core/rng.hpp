// rng.hpp — Philox4x32-10, the counter-based generator behind every random draw.
//
// A counter-based generator maps (key, counter) to random bits with no state, so
// a draw can be addressed: "sample 12345 of epoch 3, augmentation" gives the same
// numbers on any rank count and on CPU or GPU. The key is the run's seed; the
// counter holds (what for, epoch, index, sub-index). Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC'11. The rounds are Random123's own
// (Debian librandom123-dev, by the same authors); this file only fixes the
// layout of key and counter, which every stream in the program depends on.
#pragma once

#include <Random123/philox.h>

#include <cstdint>

#include "mnist_ddp/core/hd.hpp"

namespace mnist_ddp {

// What a draw is for: one counter space each, so streams never overlap.
enum class RngStream : std::uint32_t {
  kShuffle = 1,
  kAugment = 2,
  kDropout = 3,
  kInit = 4,
};

struct Philox4 {
  std::uint32_t v[4];
};

// Philox4x32 with 10 rounds.
MNIST_HD Philox4 philox4x32_10(Philox4 counter, std::uint32_t key0, std::uint32_t key1);

// Draw 4 x 32 random bits addressed by (seed, stream, a, b, c):
// key = seed; counter = {stream, a, b, c}.
MNIST_HD Philox4 random_bits(std::uint64_t seed, RngStream stream, std::uint32_t a, std::uint32_t b,
                             std::uint32_t c);

// 32 random bits → float uniform in [0, 1) with 24 bits of precision.
MNIST_HD float uniform01(std::uint32_t bits) { return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f); }

// 32 random bits → float uniform in [lo, hi).
MNIST_HD float uniform(std::uint32_t bits, float lo, float hi) { return lo + (hi - lo) * uniform01(bits); }

// ---- implementation ----------------------------------------------------------

// Random123's philox4x32_R, not a copy of it: the authors' reference code,
// known-answer tested upstream, and written to compile for host and device
// (R123_CUDA_DEVICE is __device__ in nvcc's device pass, nothing in the host
// pass, so an MNIST_HD caller sees a matching definition in each pass).
MNIST_HD Philox4 philox4x32_10(Philox4 c, std::uint32_t k0, std::uint32_t k1) {
  const philox4x32_ctr_t ctr = {{c.v[0], c.v[1], c.v[2], c.v[3]}};
  const philox4x32_key_t key = {{k0, k1}};
  const philox4x32_ctr_t out = philox4x32_R(10, ctr, key);
  return Philox4{{out.v[0], out.v[1], out.v[2], out.v[3]}};
}

MNIST_HD Philox4 random_bits(std::uint64_t seed, RngStream stream, std::uint32_t a, std::uint32_t b,
                             std::uint32_t c) {
  return philox4x32_10(Philox4{{static_cast<std::uint32_t>(stream), a, b, c}},
                       static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

}  // namespace mnist_ddp

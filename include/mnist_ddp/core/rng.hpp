// rng.hpp — Philox4x32-10, the counter-based generator behind every random draw.
//
// A counter-based generator maps (key, counter) to random bits with no state, so
// a draw can be addressed: "sample 12345 of epoch 3, augmentation" gives the same
// numbers on any rank count and on CPU or GPU. The key is the run's seed; the
// counter holds (what for, epoch, index, sub-index). Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC'11 — same constants as Random123/cuRAND.
#pragma once

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

MNIST_HD std::uint32_t mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t* hi) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  *hi = static_cast<std::uint32_t>(p >> 32);
  return static_cast<std::uint32_t>(p);
}

MNIST_HD Philox4 philox4x32_10(Philox4 c, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, hi1;
    const std::uint32_t lo0 = mulhilo32(kM0, c.v[0], &hi0);
    const std::uint32_t lo1 = mulhilo32(kM1, c.v[2], &hi1);
    c = Philox4{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return c;
}

MNIST_HD Philox4 random_bits(std::uint64_t seed, RngStream stream, std::uint32_t a, std::uint32_t b,
                             std::uint32_t c) {
  return philox4x32_10(Philox4{{static_cast<std::uint32_t>(stream), a, b, c}},
                       static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

}  // namespace mnist_ddp

// dropout_mask_avx2.hpp — nn/dropout_mask.hpp's bits and multipliers, 32 elements at once (AVX2).
//
// The 8·N consecutive groups of 4 elements from group 8·block on are drawn in
// the lanes of philox_avx2.hpp: bit for bit dropout_bits and
// dropout_multiplier, so the CPU masks stay those of the scalar code and of the
// CUDA backend (tests/unit/test_dropout_avx2.cpp holds them to it).
#pragma once

#if defined(__AVX2__)
#include <immintrin.h>

#include <cstdint>

#include "mnist_ddp/cpu/philox_avx2.hpp"
#include "mnist_ddp/nn/dropout_mask.hpp"

namespace mnist_ddp {

// Random bits of elements [32·block, 32·(block + N)) of one sample's activation in
// a layer, in element order: out[4s + q] = dropout_bits of groups 8·(block + s) + 2q and + 2q + 1.
template <int N>
inline void dropout_bits_x8(std::uint64_t seed, std::uint32_t epoch, std::int64_t sample, std::uint32_t layer,
                            std::uint32_t block, __m256i (&out)[4 * N]) {
  // Lane j of set s: the counter word of dropout_bits for group g = 8·(block + s) + j, (layer << 20) ^ g.
  __m256i words[N];
  for (int s = 0; s < N; ++s) {
    const __m256i groups = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(8 * (block + s))),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    words[s] = _mm256_xor_si256(_mm256_set1_epi32(static_cast<int>(layer << 20)), groups);
  }
  Philox4x8 bits[N];
  random_bits_x8(seed, RngStream::kDropout, epoch, static_cast<std::uint32_t>(sample), words, bits);
  for (int s = 0; s < N; ++s) interleave_x8(bits[s], out + 4 * s);
}

// dropout_multiplier of each of 8 elements' bits: `keep` (= 1/(1 - rate)) where
// uniform01(bits) >= rate, else 0. uniform01's conversion is exact in float (24
// bits times a power of two), so the comparison is the scalar one.
inline __m256 dropout_multiplier_x8(__m256i bits, __m256 rate, __m256 keep) {
  const __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(bits, 8)), _mm256_set1_ps(1.0f / 16777216.0f));
  return _mm256_and_ps(_mm256_cmp_ps(u, rate, _CMP_GE_OQ), keep);
}

}  // namespace mnist_ddp

#endif  // __AVX2__

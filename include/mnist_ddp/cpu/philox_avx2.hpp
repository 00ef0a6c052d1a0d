// philox_avx2.hpp — Philox4x32-10 on 8 counters at once (AVX2), bit for bit core/rng.hpp's.
//
// One lane per counter: v[w] holds word w of the 8 counters (or outputs), so a
// round is the scalar round of Random123's philox.h done on 8 lanes:
//
//   (hi0, lo0) = M0 · c0,  (hi1, lo1) = M1 · c2        (32x32 → 64-bit products)
//   c' = {hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0},  then the key adds the Weyl constants.
//
// AVX2 multiplies 32x32 → 64 bits only in the even 32-bit lanes (_mm256_mul_epu32),
// so the odd lanes are shifted down for a second multiply and the words blended
// back. The constants are philox.h's own macros. Only built where the compiler
// targets AVX2 (the callers keep the scalar path for the others).
#pragma once

#if defined(__AVX2__)
#include <immintrin.h>

#include <cstdint>

#include "mnist_ddp/core/rng.hpp"

namespace mnist_ddp {

// Eight Philox4x32 counters or outputs, word-major: v[w] is word w of lanes 0..7.
struct Philox4x8 {
  __m256i v[4];
};

namespace philox_avx2_detail {

// lo, hi: the low and high words of the 64-bit products a[j]·m[j] of each 32-bit lane.
inline void mulhilo(__m256i a, __m256i m, __m256i& lo, __m256i& hi) {
  const __m256i even = _mm256_mul_epu32(a, m);                        // lanes 0, 2, 4, 6
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);  // lanes 1, 3, 5, 7
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

inline Philox4x8 round(const Philox4x8& c, __m256i k0, __m256i k1) {
  __m256i lo0, hi0, lo1, hi1;
  mulhilo(c.v[0], _mm256_set1_epi32(static_cast<int>(PHILOX_M4x32_0)), lo0, hi0);
  mulhilo(c.v[2], _mm256_set1_epi32(static_cast<int>(PHILOX_M4x32_1)), lo1, hi1);
  return Philox4x8{{_mm256_xor_si256(_mm256_xor_si256(hi1, c.v[1]), k0), lo1,
                    _mm256_xor_si256(_mm256_xor_si256(hi0, c.v[3]), k1), lo0}};
}

}  // namespace philox_avx2_detail

// philox4x32_10 of rng.hpp on each of the 8·N counters, all with the key (k0, k1).
// The N sets go through each round together, so their latency chains overlap: on
// Zen 3 the Dropout layer runs 1.4x faster with N = 2 than with N = 1, and slower
// again with N = 4 (16 state registers of 16: spills).
template <int N>
inline void philox4x32_10_x8(Philox4x8 (&c)[N], std::uint32_t k0, std::uint32_t k1) {
  const __m256i w0 = _mm256_set1_epi32(static_cast<int>(PHILOX_W32_0));
  const __m256i w1 = _mm256_set1_epi32(static_cast<int>(PHILOX_W32_1));
  __m256i key0 = _mm256_set1_epi32(static_cast<int>(k0));
  __m256i key1 = _mm256_set1_epi32(static_cast<int>(k1));
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      key0 = _mm256_add_epi32(key0, w0);
      key1 = _mm256_add_epi32(key1, w1);
    }
    for (int s = 0; s < N; ++s) c[s] = philox_avx2_detail::round(c[s], key0, key1);
  }
}

// random_bits of rng.hpp for the counters {stream, a, b, c[s] lane j}: lane j of
// out[s] is random_bits(seed, stream, a, b, lane j of c[s]).
template <int N>
inline void random_bits_x8(std::uint64_t seed, RngStream stream, std::uint32_t a, std::uint32_t b,
                           const __m256i (&c)[N], Philox4x8 (&out)[N]) {
  for (int s = 0; s < N; ++s)
    out[s] = Philox4x8{{_mm256_set1_epi32(static_cast<int>(stream)), _mm256_set1_epi32(static_cast<int>(a)),
                        _mm256_set1_epi32(static_cast<int>(b)), c[s]}};
  philox4x32_10_x8(out, static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

// The 32 words in counter order (lane 0's v[0..3], lane 1's v[0..3], ...):
// out[q] holds the 4 words of lane 2q and then those of lane 2q + 1.
inline void interleave_x8(const Philox4x8& r, __m256i out[4]) {
  const __m256i w01lo = _mm256_unpacklo_epi32(r.v[0], r.v[1]);  // lanes 0 1 | 4 5, words 0 1
  const __m256i w01hi = _mm256_unpackhi_epi32(r.v[0], r.v[1]);  // lanes 2 3 | 6 7
  const __m256i w23lo = _mm256_unpacklo_epi32(r.v[2], r.v[3]);
  const __m256i w23hi = _mm256_unpackhi_epi32(r.v[2], r.v[3]);
  const __m256i l04 = _mm256_unpacklo_epi64(w01lo, w23lo);  // lane 0 | lane 4, words 0..3
  const __m256i l15 = _mm256_unpackhi_epi64(w01lo, w23lo);
  const __m256i l26 = _mm256_unpacklo_epi64(w01hi, w23hi);
  const __m256i l37 = _mm256_unpackhi_epi64(w01hi, w23hi);
  out[0] = _mm256_permute2x128_si256(l04, l15, 0x20);  // lanes 0, 1
  out[1] = _mm256_permute2x128_si256(l26, l37, 0x20);  // lanes 2, 3
  out[2] = _mm256_permute2x128_si256(l04, l15, 0x31);  // lanes 4, 5
  out[3] = _mm256_permute2x128_si256(l26, l37, 0x31);  // lanes 6, 7
}

}  // namespace mnist_ddp

#endif  // __AVX2__

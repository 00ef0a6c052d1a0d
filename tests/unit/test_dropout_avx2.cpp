// test_dropout_avx2.cpp — the 8-lane Philox and the CPU Dropout masks, bit for bit the scalar ones.
//
// The CPU Dropout draws 32 elements at a time with the AVX2 Philox of
// cpu/philox_avx2.hpp; the CUDA backend, checkpoints resumed mid-epoch and the
// determinism tests all assume the masks of the scalar dropout_bits and
// dropout_multiplier (nn/dropout_mask.hpp). Here: the vector Philox against
// philox4x32_10 on arbitrary counters and keys, dropout_bits_x8 against
// dropout_bits over many (seed, epoch, sample, layer, group), the multipliers
// at and around the rate, and the layer's mask element by element for rows
// that are and are not multiples of 8 and 32 elements (the scalar tail).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "mnist_ddp/cpu/dropout_mask_avx2.hpp"
#include "mnist_ddp/cpu/philox_avx2.hpp"
#include "mnist_ddp/cpu/threads.hpp"
#include "mnist_ddp/nn/dropout_mask.hpp"
#include "mnist_ddp/nn/layer.hpp"
#include "mnist_ddp/nn/spec.hpp"

namespace mnist_ddp {
namespace {

#if defined(__AVX2__)

std::vector<std::uint32_t> words_of(const __m256i* v, int count) {
  std::vector<std::uint32_t> w(8 * count);
  for (int i = 0; i < count; ++i) _mm256_storeu_si256(reinterpret_cast<__m256i*>(w.data() + 8 * i), v[i]);
  return w;
}

TEST(RngPhiloxAvx2, EqualsTheScalarPhiloxOnArbitraryCounters) {
  std::mt19937_64 gen(7);
  for (int trial = 0; trial < 2000; ++trial) {
    std::uint32_t c[4][8];
    for (auto& word : c)
      for (auto& lane : word) lane = static_cast<std::uint32_t>(gen());
    if (trial == 0)
      for (auto& word : c)
        for (auto& lane : word) lane = 0xffffffffu;  // the carries of the largest products
    const std::uint32_t k0 = static_cast<std::uint32_t>(gen()), k1 = static_cast<std::uint32_t>(gen());
    Philox4x8 counter[1];
    for (int w = 0; w < 4; ++w) counter[0].v[w] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c[w]));
    philox4x32_10_x8(counter, k0, k1);
    const std::vector<std::uint32_t> got = words_of(counter[0].v, 4);
    for (int lane = 0; lane < 8; ++lane) {
      const Philox4 want = philox4x32_10(Philox4{{c[0][lane], c[1][lane], c[2][lane], c[3][lane]}}, k0, k1);
      for (int w = 0; w < 4; ++w) ASSERT_EQ(got[8 * w + lane], want.v[w]) << "trial " << trial << " lane " << lane;
    }
  }
}

// Element 32·block + e of a row takes word e % 4 of group 8·block + e / 4; the
// draws of one block (N = 1) and of two together (N = 2) are both checked.
template <int N>
void expect_blocks_equal(std::uint64_t seed, std::uint32_t epoch, std::int64_t sample, std::uint32_t layer,
                         std::uint32_t block) {
  __m256i bits[4 * N];
  dropout_bits_x8<N>(seed, epoch, sample, layer, block, bits);
  const std::vector<std::uint32_t> got = words_of(bits, 4 * N);
  for (std::uint32_t e = 0; e < 32 * N; ++e) {
    const Philox4 want = dropout_bits(seed, epoch, sample, layer, 8 * block + e / 4);
    ASSERT_EQ(got[e], want.v[e % 4]) << "N " << N << " seed " << seed << " epoch " << epoch << " sample " << sample
                                     << " layer " << layer << " block " << block << " element " << e;
  }
}

void expect_block_equal(std::uint64_t seed, std::uint32_t epoch, std::int64_t sample, std::uint32_t layer,
                        std::uint32_t block) {
  expect_blocks_equal<1>(seed, epoch, sample, layer, block);
  expect_blocks_equal<2>(seed, epoch, sample, layer, block);
}

TEST(RngPhiloxAvx2, DropoutBitsEqualTheScalarDraws) {
  for (std::uint64_t seed : {std::uint64_t{0}, std::uint64_t{42}, std::uint64_t{0x123456789abcdefULL}, ~std::uint64_t{0}})
    for (std::uint32_t epoch : {0u, 3u, 0xffffffffu})
      for (std::int64_t sample : {std::int64_t{0}, std::int64_t{59999}, std::int64_t{1} << 33, std::int64_t{-1}})
        for (std::uint32_t layer : {0u, 5u, 4095u})
          for (std::uint32_t block : {0u, 1u, 195u, 131071u, 0x1ffffffeu}) {
            expect_block_equal(seed, epoch, sample, layer, block);
            if (HasFatalFailure()) return;  // the first mismatch says enough
          }
  std::mt19937_64 gen(11);
  for (int trial = 0; trial < 3000 && !HasFatalFailure(); ++trial)
    expect_block_equal(gen(), static_cast<std::uint32_t>(gen()), static_cast<std::int64_t>(gen()),
                       static_cast<std::uint32_t>(gen() % 64), static_cast<std::uint32_t>(gen() % 4096));
}

TEST(RngPhiloxAvx2, MultipliersEqualTheScalarOnes) {
  std::mt19937 gen(5);
  for (float rate : {0.0f, 0.1f, 0.25f, 0.3f, 0.5f, 0.75f, 0.999f}) {
    // Around the threshold: the bits whose uniform01 is just below, at and above the rate.
    const std::uint32_t edge = static_cast<std::uint32_t>(rate * 16777216.0f) << 8;
    std::vector<std::uint32_t> bits;
    for (std::uint32_t d = 0; d < 4096; d += 64) bits.insert(bits.end(), {edge + d, edge - d - 1, edge | (d & 0xff)});
    bits.insert(bits.end(), {0u, 0xffu, 0x100u, 0xffffffffu, 0x80000000u, 0x7fffffffu, 0xffffff00u});
    while (bits.size() % 8 != 0 || bits.size() < 4096) bits.push_back(gen());
    const __m256 rate8 = _mm256_set1_ps(rate), keep8 = _mm256_set1_ps(1.0f / (1.0f - rate));
    for (std::size_t i = 0; i < bits.size(); i += 8) {
      float got[8];
      _mm256_storeu_ps(got, dropout_multiplier_x8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(&bits[i])),
                                                  rate8, keep8));
      for (int j = 0; j < 8; ++j) {
        const float want = dropout_multiplier(bits[i + j], rate);
        ASSERT_EQ(std::memcmp(&got[j], &want, sizeof(float)), 0)
            << "rate " << rate << " bits " << bits[i + j] << ": " << got[j] << " vs " << want;
      }
    }
  }
}

#endif  // __AVX2__

LayerSpec dropout_spec(float rate) {
  LayerSpec s{LayerKind::kDropout};
  s.rate = rate;
  return s;
}

// The layer's mask (read as y for x = 1, and as dx for dy = 1) equals the scalar
// formula element by element, for rows of 1 to 6272 elements (14x14x32, the
// model's first dropout): whole 32-element blocks, 8-element steps and scalar tails.
TEST(LayerDropout, MaskEqualsTheScalarFormulaElementByElement) {
  set_cpu_threads(0);
  const std::uint64_t seed = 0x5eed0000abcdULL;
  for (const Shape3 in : {Shape3{1, 1, 1}, Shape3{1, 1, 3}, Shape3{3, 3, 1}, Shape3{1, 1, 31}, Shape3{1, 1, 32},
                          Shape3{1, 1, 33}, Shape3{5, 8, 1}, Shape3{7, 7, 2}, Shape3{3, 3, 7}, Shape3{1, 1, 64},
                          Shape3{1, 1, 100}, Shape3{1, 1, 101}, Shape3{14, 14, 32}}) {
    for (float rate : {0.25f, 0.5f}) {
      const std::uint32_t layer = 5;
      std::unique_ptr<Layer> l = make_cpu_layer(dropout_spec(rate), in, "dropout", layer);
      const int n = 5;
      const std::size_t size = in.size();
      l->reserve(n);
      std::vector<std::int64_t> ids{17, 59999, 0, 123456, 4242};
      const ForwardContext ctx{true, seed, 7, ids.data()};
      const std::vector<float> ones(size * n, 1.0f);
      std::vector<float> y(size * n), dy(size * n, 1.0f), dx(size * n);
      l->forward(ones.data(), y.data(), n, ctx);
      l->backward(ones.data(), y.data(), dy.data(), dx.data(), n);
      for (int b = 0; b < n; ++b)
        for (std::size_t i = 0; i < size; ++i) {
          const Philox4 r = dropout_bits(seed, 7, ids[b], layer, static_cast<std::uint32_t>(i / 4));
          const float want = dropout_multiplier(r.v[i % 4], rate);
          ASSERT_EQ(y[b * size + i], want) << "size " << size << " rate " << rate << " row " << b << " element " << i;
          ASSERT_EQ(dx[b * size + i], want) << "size " << size << " rate " << rate << " row " << b << " element " << i;
        }
    }
  }
}

}  // namespace
}  // namespace mnist_ddp

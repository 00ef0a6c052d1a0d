// dropout.cpp — Dropout and Flatten on the CPU.
#include "mnist_ddp/cpu/dropout.hpp"

#include <cstdint>
#include <cstring>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/dropout_mask_avx2.hpp"
#include "mnist_ddp/nn/dropout_mask.hpp"

namespace mnist_ddp {

namespace {

// The mask of one sample in one layer: m = dropout_multiplier(dropout_bits(...)), y = x·m.
struct SampleDraw {
  std::uint64_t seed;
  std::uint32_t epoch;
  std::uint32_t layer;  // the layer's place in the model seeds its masks
  float rate;

  // Elements [4·first_group, size): 4 per scalar Philox draw (the reference, and the tail).
  void apply_scalar(std::int64_t sample, std::size_t first_group, std::size_t size, const float* x, float* y,
                    float* m) const {
    for (std::size_t i = 4 * first_group; i < size; i += 4) {
      const Philox4 r = dropout_bits(seed, epoch, sample, layer, static_cast<std::uint32_t>(i / 4));
      for (std::size_t k = 0; k < 4 && i + k < size; ++k) {
        m[i + k] = dropout_multiplier(r.v[k], rate);
        y[i + k] = x[i + k] * m[i + k];
      }
    }
  }

#if defined(__AVX2__)
  // Elements [32·block, 32·(block + N)) by the 8-lane Philox.
  template <int N>
  void apply_blocks(std::int64_t sample, std::size_t block, const float* x, float* y, float* m, __m256 rate8,
                    __m256 keep8) const {
    __m256i bits[4 * N];
    dropout_bits_x8<N>(seed, epoch, sample, layer, static_cast<std::uint32_t>(block), bits);
    for (std::size_t q = 0; q < 4 * N; ++q) {
      const std::size_t i = 32 * block + 8 * q;
      const __m256 mult = dropout_multiplier_x8(bits[q], rate8, keep8);
      _mm256_storeu_ps(m + i, mult);
      _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), mult));
    }
  }

  // Whole blocks of 32 elements, two at a time, then the scalar tail: the same masks.
  void apply(std::int64_t sample, std::size_t size, const float* x, float* y, float* m) const {
    const __m256 rate8 = _mm256_set1_ps(rate);
    const __m256 keep8 = _mm256_set1_ps(1.0f / (1.0f - rate));  // dropout_multiplier's, to the bit
    const std::size_t blocks = size / 32;
    std::size_t block = 0;
    for (; block + 2 <= blocks; block += 2) apply_blocks<2>(sample, block, x, y, m, rate8, keep8);
    if (block < blocks) apply_blocks<1>(sample, block, x, y, m, rate8, keep8);
    apply_scalar(sample, 8 * blocks, size, x, y, m);
  }
#else
  void apply(std::int64_t sample, std::size_t size, const float* x, float* y, float* m) const {
    apply_scalar(sample, 0, size, x, y, m);
  }
#endif
};

}  // namespace

DropoutCpu::DropoutCpu(const LayerLayout& layout) : Layer(layout) {}  // the rate is checked by the layout

void DropoutCpu::reserve(int max_batch) { mask_.resize(static_cast<std::size_t>(max_batch) * input_shape().size()); }

void DropoutCpu::forward(const float* x, float* y, int n, const ForwardContext& ctx) {
  const std::size_t size = input_shape().size();
  last_training_ = dropout_applies(ctx, layout().spec.rate);
  if (!last_training_) {
    std::memcpy(y, x, sizeof(float) * size * n);
    return;
  }
  MNIST_ASSERT(ctx.sample_ids != nullptr, "dropout in training needs the sample ids");
  const SampleDraw draw{ctx.seed, ctx.epoch, layout().index, layout().spec.rate};
#pragma omp parallel for schedule(static)
  for (int b = 0; b < n; ++b) {
    const std::size_t at = static_cast<std::size_t>(b) * size;
    draw.apply(ctx.sample_ids[b], size, x + at, y + at, mask_.data() + at);
  }
}

void DropoutCpu::backward(const float*, const float*, float* dy, float* dx, int n) {
  if (dx == nullptr) return;
  const std::size_t count = input_shape().size() * n;
  if (!last_training_) {
    std::memcpy(dx, dy, sizeof(float) * count);
    return;
  }
  // Elementwise (dx may be dy): no loop-carried dependence, vectorised without an aliasing check.
  const float* m = mask_.data();
#pragma omp simd
  for (std::size_t i = 0; i < count; ++i) dx[i] = dy[i] * m[i];
}

void FlattenCpu::forward(const float* x, float* y, int n, const ForwardContext&) {
  std::memcpy(y, x, sizeof(float) * input_shape().size() * n);
}

void FlattenCpu::backward(const float*, const float*, float* dy, float* dx, int n) {
  if (dx != nullptr) std::memcpy(dx, dy, sizeof(float) * input_shape().size() * n);
}

}  // namespace mnist_ddp

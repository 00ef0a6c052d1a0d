// dropout.cpp — Dropout and Flatten on the CPU.
#include "mnist_ddp/cpu/dropout.hpp"

#include <cstring>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/nn/dropout_mask.hpp"

namespace mnist_ddp {

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
  const float rate = layout().spec.rate;
  const std::uint32_t layer = layout().index;  // the layer's place in the model seeds its masks
#pragma omp parallel for schedule(static)
  for (int b = 0; b < n; ++b) {
    float* m = mask_.data() + static_cast<std::size_t>(b) * size;
    const float* in = x + static_cast<std::size_t>(b) * size;
    float* out = y + static_cast<std::size_t>(b) * size;
    for (std::size_t i = 0; i < size; i += 4) {
      const Philox4 r = dropout_bits(ctx.seed, ctx.epoch, ctx.sample_ids[b], layer,
                                     static_cast<std::uint32_t>(i / 4));
      for (std::size_t k = 0; k < 4 && i + k < size; ++k) {
        m[i + k] = dropout_multiplier(r.v[k], rate);
        out[i + k] = in[i + k] * m[i + k];
      }
    }
  }
}

void DropoutCpu::backward(const float*, const float*, float* dy, float* dx, int n) {
  if (dx == nullptr) return;
  const std::size_t count = input_shape().size() * n;
  if (!last_training_) {
    std::memcpy(dx, dy, sizeof(float) * count);
    return;
  }
  for (std::size_t i = 0; i < count; ++i) dx[i] = dy[i] * mask_[i];
}

void FlattenCpu::forward(const float* x, float* y, int n, const ForwardContext&) {
  std::memcpy(y, x, sizeof(float) * input_shape().size() * n);
}

void FlattenCpu::backward(const float*, const float*, float* dy, float* dx, int n) {
  if (dx != nullptr) std::memcpy(dx, dy, sizeof(float) * input_shape().size() * n);
}

}  // namespace mnist_ddp

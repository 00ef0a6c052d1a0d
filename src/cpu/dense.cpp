// dense.cpp — Dense on the CPU: three row-split sgemms per step.
#include "mnist_ddp/cpu/dense.hpp"

#include <algorithm>
#include <cstring>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/blas.hpp"
#include "mnist_ddp/nn/init.hpp"

namespace mnist_ddp {

DenseCpu::DenseCpu(const LayerLayout& layout, Activation act)
    : Layer(layout), in_(static_cast<int>(layout.input.size())), out_(layout.spec.units), act_(act) {}

void DenseCpu::bind(float* params, float* grads, float*) {
  w_ = params;
  b_ = params + static_cast<std::size_t>(in_) * out_;
  dw_ = grads;
  db_ = grads + static_cast<std::size_t>(in_) * out_;
}

void DenseCpu::initialize(std::uint64_t seed, std::uint32_t layer_index) {
  glorot_uniform(w_, static_cast<std::size_t>(in_) * out_, in_, out_, seed, layer_index);
  std::fill(b_, b_ + out_, 0.0f);
}

std::vector<WeightView> DenseCpu::weights() {
  return {{"kernel", {std::size_t(in_), std::size_t(out_)}, w_, true}, {"bias", {std::size_t(out_)}, b_, true}};
}

void DenseCpu::forward(const float* x, float* y, int n, const ForwardContext&) {
  for (int r = 0; r < n; ++r) std::memcpy(y + static_cast<std::size_t>(r) * out_, b_, sizeof(float) * out_);
  parallel_sgemm(Trans::kNo, Trans::kNo, n, out_, in_, 1.0f, x, in_, w_, out_, 1.0f, y, out_);
  if (act_ == Activation::kRelu) {
    const std::size_t count = static_cast<std::size_t>(n) * out_;
    for (std::size_t i = 0; i < count; ++i) y[i] = std::max(y[i], 0.0f);
  }
}

void DenseCpu::backward(const float* x, const float* y, float* dy, float* dx, int n) {
  if (act_ == Activation::kRelu) {
    const std::size_t count = static_cast<std::size_t>(n) * out_;
    for (std::size_t i = 0; i < count; ++i) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
  }
  std::fill(db_, db_ + out_, 0.0f);
  for (int r = 0; r < n; ++r) {
    const float* g = dy + static_cast<std::size_t>(r) * out_;
    for (int c = 0; c < out_; ++c) db_[c] += g[c];
  }
  // dW(in×out) = Xᵀ · dY, rows of dW split across threads.
  parallel_sgemm(Trans::kYes, Trans::kNo, in_, out_, n, 1.0f, x, in_, dy, out_, 0.0f, dw_, out_);
  // dX(n×in) = dY · Wᵀ
  if (dx != nullptr) parallel_sgemm(Trans::kNo, Trans::kYes, n, in_, out_, 1.0f, dy, out_, w_, out_, 0.0f, dx, in_);
}

}  // namespace mnist_ddp

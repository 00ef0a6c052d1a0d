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

void DenseCpu::forward(const float* x, float* y, int n, const ForwardContext&) {
  const float* bias = weight(slot::kBias);
  for (int r = 0; r < n; ++r) std::memcpy(y + static_cast<std::size_t>(r) * out_, bias, sizeof(float) * out_);
  parallel_sgemm(Trans::kNo, Trans::kNo, n, out_, in_, 1.0f, x, in_, weight(slot::kKernel), out_, 1.0f, y, out_);
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
  float* dbias = weight_grad(slot::kBias);
  std::fill(dbias, dbias + out_, 0.0f);
  for (int r = 0; r < n; ++r) {
    const float* g = dy + static_cast<std::size_t>(r) * out_;
    for (int c = 0; c < out_; ++c) dbias[c] += g[c];
  }
  // dW(in×out) = Xᵀ · dY, rows of dW split across threads.
  parallel_sgemm(Trans::kYes, Trans::kNo, in_, out_, n, 1.0f, x, in_, dy, out_, 0.0f, weight_grad(slot::kKernel), out_);
  // dX(n×in) = dY · Wᵀ
  if (dx != nullptr)
    parallel_sgemm(Trans::kNo, Trans::kYes, n, in_, out_, 1.0f, dy, out_, weight(slot::kKernel), out_, 0.0f, dx, in_);
}

}  // namespace mnist_ddp

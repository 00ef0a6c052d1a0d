// dense.hpp — fully connected layer with a fused activation (CPU):
// Y(n×out) = X(n×in) · W(in×out) + b, W in Keras's (in, out) layout.
#pragma once

#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp {

class DenseCpu final : public Layer {
 public:
  DenseCpu(const LayerLayout& layout, Activation act);
  LayerKind kind() const override { return LayerKind::kDense; }
  void bind(float* params, float* grads, float* state) override;
  void initialize(std::uint64_t seed, std::uint32_t layer_index) override;
  std::vector<WeightView> weights() override;
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;

 private:
  int in_, out_;
  Activation act_;
  float *w_ = nullptr, *b_ = nullptr, *dw_ = nullptr, *db_ = nullptr;
};

}  // namespace mnist_ddp

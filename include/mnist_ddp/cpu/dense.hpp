// dense.hpp — fully connected layer with a fused activation (CPU):
// Y(n×out) = X(n×in) · W(in×out) + b, W in Keras's (in, out) layout.
#pragma once

#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp {

class DenseCpu final : public Layer {
 public:
  DenseCpu(const LayerLayout& layout, Activation act);
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;

 private:
  int in_, out_;
  Activation act_;
};

}  // namespace mnist_ddp

// conv2d.hpp — Conv2D, 'same' padding, stride 1, with a fused activation (CPU).
//
// NHWC activations, the kernel in Keras's (kh, kw, in, out) order, bias and
// ReLU fused into the forward pass. The passes (conv_passes.hpp: oneDNN's direct
// convolution, the own Winograd, or for one input channel oneDNN's forward with
// the own weight gradient, single_channel_conv.hpp) are made once per (batch size,
// thread count) and kept. The ReLU's backward is a pass over dy before the
// convolution's, except where the passes fuse it (Winograd, one input channel).
#pragma once

#include "mnist_ddp/cpu/conv_passes.hpp"
#include "mnist_ddp/cpu/primitive_cache.hpp"

#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp {

class Conv2DCpu final : public Layer {
 public:
  Conv2DCpu(const LayerLayout& layout, Activation act);
  void reserve(int max_batch) override;
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;

 private:
  ConvPasses& passes(int n);  // those for n images on the current OpenMP thread count
  int k_, cin_, cout_, pad_;
  Activation act_;
  PrimitiveCache<ConvPasses> passes_;
};

}  // namespace mnist_ddp

// dense.hpp — fully connected layer with a fused activation (CPU):
// Y(n×out) = X(n×in) · W(in×out) + b, W in Keras's (in, out) layout.
//
// On oneDNN's inner product (dense_primitives.hpp), bias and ReLU fused into the
// forward primitive. The primitives are created once per (batch size, thread
// count) and kept, as the convolutions' are.
#pragma once

#include "mnist_ddp/cpu/dense_primitives.hpp"
#include "mnist_ddp/cpu/primitive_cache.hpp"

#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp {

class DenseCpu final : public Layer {
 public:
  DenseCpu(const LayerLayout& layout, Activation act);
  void reserve(int max_batch) override;
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;

 private:
  DensePrimitives& primitives(int n);  // those for n samples on the current OpenMP thread count
  int in_, out_;
  Activation act_;
  PrimitiveCache<DensePrimitives> primitives_;
};

}  // namespace mnist_ddp

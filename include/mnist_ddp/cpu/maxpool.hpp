// maxpool.hpp — MaxPooling2D, square window = stride, 'valid' (CPU).
// On oneDNN (maxpool_primitives.hpp): the forward pass records the winner of each
// window in oneDNN's workspace for the backward pass. Primitives are created once
// per (batch size, thread count) and kept.
#pragma once

#include "mnist_ddp/cpu/maxpool_primitives.hpp"
#include "mnist_ddp/cpu/primitive_cache.hpp"
#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp {

class MaxPoolCpu final : public Layer {
 public:
  explicit MaxPoolCpu(const LayerLayout& layout) : Layer(layout), pool_(layout.spec.kernel) {}
  void reserve(int max_batch) override;
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;

 private:
  MaxPoolPrimitives& primitives(int n);  // those for n images on the current OpenMP thread count
  int pool_;
  PrimitiveCache<MaxPoolPrimitives> primitives_;
};

}  // namespace mnist_ddp

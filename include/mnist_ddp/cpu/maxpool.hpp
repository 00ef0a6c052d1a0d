// maxpool.hpp — MaxPooling2D, square window = stride, 'valid' (CPU).
// The forward pass records the winner of each window for the backward pass.
#pragma once

#include <cstdint>
#include <vector>

#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp {

class MaxPoolCpu final : public Layer {
 public:
  explicit MaxPoolCpu(const LayerLayout& layout) : Layer(layout), pool_(layout.spec.kernel) {}
  void reserve(int max_batch) override;
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;

 private:
  int pool_;
  std::vector<std::int32_t> argmax_;  // (n, out) index into the sample's input
};

}  // namespace mnist_ddp

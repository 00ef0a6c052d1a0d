// dropout.hpp — inverted dropout (CPU); masks from nn/dropout_mask.hpp.
#pragma once

#include <vector>

#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp {

class DropoutCpu final : public Layer {
 public:
  explicit DropoutCpu(const LayerLayout& layout);
  void reserve(int max_batch) override;
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;

 private:
  bool last_training_ = false;
  std::vector<float> mask_;  // (n, size): 0 or 1/(1-rate)
};

// Flatten: (h, w, c) → (h·w·c), a copy in NHWC order (what Keras's Flatten does
// with channels_last).
class FlattenCpu final : public Layer {
 public:
  explicit FlattenCpu(const LayerLayout& layout) : Layer(layout) {}
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;
};

}  // namespace mnist_ddp

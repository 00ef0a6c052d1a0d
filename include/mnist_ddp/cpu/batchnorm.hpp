// batchnorm.hpp — BatchNormalization over all axes but the channel (CPU).
//
// Training: normalise with the batch mean and (biased) variance, and update the
// moving averages as Keras does, moving = moving·m + batch·(1 - m), with
// m = debiased_momentum(momentum, step) (spec.hpp): Keras's average with the
// pull of its initial values (mean 0, variance 1) removed. Without it, the
// first conv block — whose outputs have a variance near 0.002 — is normalised
// by a moving variance still dominated by the initial 1 for the whole first
// epoch (0.99^422 = 0.014 ≫ 0.002), and inference-mode accuracy after one
// epoch collapses. The correction fades out as steps accumulate.
// Inference: normalise with the moving averages. Weights in Keras order:
// gamma, beta (trainable), moving_mean, moving_variance (state).
// The training-mode backward of a convolution output (h·w > 1) runs on oneDNN
// (batchnorm_primitives.hpp), everything else on the layer's own loops.
#pragma once

#include <vector>

#include "mnist_ddp/cpu/batchnorm_primitives.hpp"
#include "mnist_ddp/cpu/primitive_cache.hpp"
#include "mnist_ddp/dist/batchnorm_sync.hpp"
#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp {

class BatchNormCpu final : public Layer {
 public:
  explicit BatchNormCpu(const LayerLayout& layout);
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;
  // --sync-bn: training statistics over all ranks (dist/batchnorm_sync.hpp); null: this rank's.
  void set_sync(BatchNormSync* sync) { sync_ = sync; }

 private:
  int c_;
  float eps_, momentum_;
  std::vector<float> mean_, invstd_;  // (c) the last forward normalised with: the batch's or the moving ones
  std::vector<float> var_;            // (c) the last training batch's biased variance, for oneDNN's backward
  PrimitiveCache<BatchNormBackwardPrimitives> primitives_;
  bool last_training_ = false;        // mode of the last forward, which backward differentiates
  BatchNormSync* sync_ = nullptr;
};

}  // namespace mnist_ddp

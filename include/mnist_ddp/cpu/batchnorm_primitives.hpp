// batchnorm_primitives.hpp — oneDNN's BatchNorm backward for one batch size.
//
// Only the training-mode backward runs on oneDNN, and only on convolution
// outputs (h·w > 1): there it is faster than the layer's loops; its forward is
// not, and on the (n, 1, 1, c) input after a dense layer it falls back to a slow
// generic kernel. The forward stays the layer's (batch statistics in double, the
// project's debiased moving averages, nn/batchnorm_math.hpp); this primitive
// takes that forward's batch mean and biased variance.
#pragma once

#include <dnnl.hpp>

#include <string>

namespace mnist_ddp {

class BatchNormBackwardPrimitives {
 public:
  // Input (n, h, w, c); `name`: the layer's, for the record of what ran.
  BatchNormBackwardPrimitives(int n, int h, int w, int c, float epsilon, const std::string& name);
  // dx, dgamma, dbeta of a training-mode forward with batch `mean`, `variance` (c each).
  void backward(const float* x, const float* dy, const float* mean, const float* variance, const float* gamma,
                const float* beta, float* dx, float* dgamma, float* dbeta);

 private:
  dnnl::memory::desc x_md_, c_md_;
  dnnl::batch_normalization_backward::primitive_desc pd_;
  dnnl::batch_normalization_backward bwd_;
};

}  // namespace mnist_ddp

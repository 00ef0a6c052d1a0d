// batchnorm_math.hpp — the BatchNorm moving-average rule of both backends: the
// CPU layer's update, and the per-channel arithmetic the GPU layer adds to cuDNN.
//
// cuDNN's own running-average update differs from the CPU layer (and Keras) in
// two ways: it averages the UNBIASED batch variance, and its factor is fixed by
// the caller per call. The CPU layer averages the biased variance with
// m = debiased_momentum(momentum, step). So the GPU layer asks cuDNN for no
// running update and applies this one to cuDNN's saved mean and inverse
// standard deviation. Written once, MNIST_HD: compiled into the CPU layer, the
// kernel and the host unit test.
#pragma once

#include "mnist_ddp/core/hd.hpp"

namespace mnist_ddp {

// The biased batch variance from cuDNN's saved 1/sqrt(var + eps), in double:
// the subtraction of eps cancels digits, double keeps them.
MNIST_HD double variance_from_invstd(float invstd, float epsilon) {
  const double inv = static_cast<double>(invstd);
  const double var = 1.0 / (inv * inv) - static_cast<double>(epsilon);
  return var > 0.0 ? var : 0.0;
}

// moving = moving·m + batch·(1 - m), in float (Keras's rule).
MNIST_HD float moving_average(float moving, float batch, float momentum) {
  return moving * momentum + batch * (1.0f - momentum);
}

}  // namespace mnist_ddp

// batchnorm_math.hpp — the per-channel BatchNorm arithmetic of both backends,
// written once, MNIST_HD: compiled into the CPU layer, the GPU kernels and the
// host unit test (tests/unit/test_batchnorm_math.cpp), so they cannot diverge.
//
// Training statistics come from three per-channel sums over the batch's rows,
// Σx, Σx² and the row count — this rank's, or with --sync-bn their totals over
// all ranks (dist/batchnorm_sync.hpp on the CPU, cuda/nccl_batchnorm_sync.hpp on
// the GPU) — and the backward pass from Σdy and Σdy·x̂ the same way. Totals of
// shards are the sums of the whole batch, so the functions below give every
// rank the statistics of the global batch.
//
// Moving averages: cuDNN's own running-average update differs from the CPU
// layer (and Keras) in two ways: it averages the UNBIASED batch variance, and
// its factor is fixed by the caller per call. The CPU layer averages the biased
// variance with m = debiased_momentum(momentum, step). So the GPU layer asks
// cuDNN for no running update and applies moving_average() to cuDNN's saved
// mean and inverse standard deviation (or to its own, with --sync-bn).
#pragma once

#include <cmath>

#include "mnist_ddp/core/hd.hpp"

namespace mnist_ddp {

// What a training batch is normalised with, per channel.
struct BatchStatistics {
  float mean;
  float var;     // biased: E[x²] − E[x]²
  float invstd;  // 1/sqrt(var + ε), from the double variance
};

// From Σx, Σx² and the row count, in double (inputs are O(1) activations, so
// E[x²] − E[x]² keeps ample precision in double).
MNIST_HD BatchStatistics batch_statistics(double sum, double sum_sq, double count, float epsilon) {
  const double mean = sum / count;
  const double d = sum_sq / count - mean * mean;
  const double var = d > 0.0 ? d : 0.0;
  return {static_cast<float>(mean), static_cast<float>(var), static_cast<float>(1.0 / sqrt(var + epsilon))};
}

// The training-mode map of one channel, y = x·scale + shift.
struct BatchNormAffine {
  float scale, shift;
};

MNIST_HD BatchNormAffine batchnorm_affine(float gamma, float beta, float mean, float invstd) {
  const float scale = gamma * invstd;
  return {scale, beta - mean * scale};
}

// One row's term of Σdy·x̂ (γ's gradient), x̂ = (x − mean)·invstd, in this order.
MNIST_HD float dy_xhat(float dy, float x, float mean, float invstd) { return dy * (x - mean) * invstd; }

// The means over the batch's rows of dy and dy·x̂ (all ranks' with --sync-bn).
struct BatchNormBackwardMeans {
  float dy, dy_xhat;
};

MNIST_HD BatchNormBackwardMeans backward_means(double sum_dy, double sum_dy_xhat, double count) {
  const double inv = 1.0 / count;
  return {static_cast<float>(sum_dy * inv), static_cast<float>(sum_dy_xhat * inv)};
}

// The training-mode input gradient, dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)).
MNIST_HD float batchnorm_dx(float dy, float x, float gamma, float mean, float invstd, BatchNormBackwardMeans m) {
  const float xhat = (x - mean) * invstd;
  return gamma * invstd * (dy - m.dy - xhat * m.dy_xhat);
}

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

// loss_math.hpp — softmax cross-entropy of one row of logits, written once for
// the CPU loss (src/nn/loss.cpp), the CUDA loss kernel and the prediction
// probabilities of the report: double exponentials around the row maximum,
// the first maximum as the prediction. MNIST_HD: compiled for both.
#pragma once

#include <cmath>

#include "mnist_ddp/core/hd.hpp"

namespace mnist_ddp {

// The row's softmax denominator around its maximum.
struct SoftmaxRow {
  int predicted;   // first arg-max
  double zmax;     // z[predicted]
  double denom;    // Σ exp(z_k - zmax): p(predicted) = 1 / denom
};

MNIST_HD SoftmaxRow softmax_row(const float* z, int classes) {
  int best = 0;
  for (int k = 1; k < classes; ++k)
    if (z[k] > z[best]) best = k;
  const double zmax = z[best];
  double denom = 0.0;
  for (int k = 0; k < classes; ++k) denom += exp(static_cast<double>(z[k]) - zmax);
  return SoftmaxRow{best, zmax, denom};
}

struct RowLoss {
  double loss;     // -log p(label)
  int predicted;   // first arg-max
};

// z: (classes) logits; d, if non-null, receives (softmax - onehot) · grad_scale.
MNIST_HD RowLoss softmax_xent_row(const float* z, int classes, int label, float* d, float grad_scale) {
  const SoftmaxRow row = softmax_row(z, classes);
  const double log_denom = log(row.denom);
  if (d != nullptr) {
    for (int k = 0; k < classes; ++k) {
      const double p = exp(static_cast<double>(z[k]) - row.zmax - log_denom);
      d[k] = static_cast<float>((p - (k == label ? 1.0 : 0.0)) * grad_scale);
    }
  }
  return RowLoss{-(static_cast<double>(z[label]) - row.zmax - log_denom), row.predicted};
}

}  // namespace mnist_ddp

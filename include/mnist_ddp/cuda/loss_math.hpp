// loss_math.hpp — softmax cross-entropy of one row of logits, for the CUDA loss
// kernel, in the CPU loss's arithmetic (src/nn/loss.cpp): double exponentials
// around the row maximum, the first maximum as the prediction. MNIST_HD so the
// host unit test compares it with the CPU function on the same rows.
#pragma once

#include <cmath>

#include "mnist_ddp/core/hd.hpp"

namespace mnist_ddp::cuda {

struct RowLoss {
  double loss;     // -log p(label)
  int predicted;   // first arg-max
};

// z: (classes) logits; d, if non-null, receives (softmax - onehot) · grad_scale.
MNIST_HD RowLoss softmax_xent_row(const float* z, int classes, int label, float* d, float grad_scale) {
  int best = 0;
  for (int k = 1; k < classes; ++k)
    if (z[k] > z[best]) best = k;
  const double zmax = z[best];
  double denom = 0.0;
  for (int k = 0; k < classes; ++k) denom += exp(static_cast<double>(z[k]) - zmax);
  const double log_denom = log(denom);
  if (d != nullptr) {
    for (int k = 0; k < classes; ++k) {
      const double p = exp(static_cast<double>(z[k]) - zmax - log_denom);
      d[k] = static_cast<float>((p - (k == label ? 1.0 : 0.0)) * grad_scale);
    }
  }
  return RowLoss{-(static_cast<double>(z[label]) - zmax - log_denom), best};
}

}  // namespace mnist_ddp::cuda

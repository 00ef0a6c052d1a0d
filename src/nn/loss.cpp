// loss.cpp — fused softmax cross-entropy on the CPU.
#include "mnist_ddp/nn/loss.hpp"

#include <algorithm>
#include <cmath>

namespace mnist_ddp {

LossSums softmax_cross_entropy(const float* logits, const std::uint8_t* labels, int n, int classes, float* dlogits,
                               float grad_scale, std::uint8_t* predictions) {
  LossSums sums;
  for (int i = 0; i < n; ++i) {
    const float* z = logits + static_cast<std::size_t>(i) * classes;
    int best = 0;
    for (int k = 1; k < classes; ++k)
      if (z[k] > z[best]) best = k;
    const double zmax = z[best];
    double denom = 0.0;
    for (int k = 0; k < classes; ++k) denom += std::exp(static_cast<double>(z[k]) - zmax);
    const double log_denom = std::log(denom);
    sums.loss += -(static_cast<double>(z[labels[i]]) - zmax - log_denom);
    sums.correct += best == labels[i];
    if (predictions != nullptr) predictions[i] = static_cast<std::uint8_t>(best);
    if (dlogits != nullptr) {
      float* d = dlogits + static_cast<std::size_t>(i) * classes;
      for (int k = 0; k < classes; ++k) {
        const double p = std::exp(static_cast<double>(z[k]) - zmax - log_denom);
        d[k] = static_cast<float>((p - (k == labels[i] ? 1.0 : 0.0)) * grad_scale);
      }
    }
  }
  return sums;
}

}  // namespace mnist_ddp

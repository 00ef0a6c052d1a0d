// optimizer_math.hpp — the per-element update rules of Adam, RMSprop and SGD,
// written once for the CPU loop and the CUDA kernel. Keras 3 formulas:
//   Adam:    m += (g - m)(1 - b1); v += (g² - v)(1 - b2);
//            p -= alpha · m / (sqrt(v) + eps), alpha = lr · sqrt(1 - b2^t) / (1 - b1^t)
//   RMSprop: v = rho·v + (1 - rho)·g²;  p -= lr · g / sqrt(v + eps)
//   SGD:     m = momentum·m - lr·g;     p += m
#pragma once

#include <cmath>

#include "mnist_ddp/core/hd.hpp"

namespace mnist_ddp {

struct AdamHyper {
  float alpha;   // step size with bias correction folded in
  float beta1, beta2, epsilon;
};

// Adam's hyper-parameters for update number t (1-based) at learning rate lr:
// both bias corrections folded into the step size, in double, on the host
// (the CPU loop and the CUDA kernel then get the same float values).
inline AdamHyper adam_hyper(double lr, double beta1, double beta2, double epsilon, double t) {
  return AdamHyper{static_cast<float>(lr * std::sqrt(1.0 - std::pow(beta2, t)) / (1.0 - std::pow(beta1, t))),
                   static_cast<float>(beta1), static_cast<float>(beta2), static_cast<float>(epsilon)};
}

MNIST_HD void adam_update(float& p, float g, float& m, float& v, const AdamHyper& h) {
  m += (g - m) * (1.0f - h.beta1);
  v += (g * g - v) * (1.0f - h.beta2);
  p -= h.alpha * m / (sqrtf(v) + h.epsilon);
}

MNIST_HD void rmsprop_update(float& p, float g, float& v, float lr, float rho, float epsilon) {
  v = rho * v + (1.0f - rho) * g * g;
  p -= lr * g / sqrtf(v + epsilon);
}

MNIST_HD void sgd_momentum_update(float& p, float g, float& m, float lr, float momentum) {
  m = momentum * m - lr * g;
  p += m;
}

}  // namespace mnist_ddp

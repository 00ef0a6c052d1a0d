// optimizer.cpp — the CPU loop around the shared update rules.
#include "mnist_ddp/nn/optimizer.hpp"

#include <cmath>

#include "mnist_ddp/nn/optimizer_math.hpp"

namespace mnist_ddp {

Optimizer::Optimizer(const OptimizerHyper& hyper, std::size_t count)
    : hyper_(hyper), count_(count),
      slots_(count * optimizer_slots_per_parameter(hyper.kind), 0.0f) {}

void Optimizer::step(float* params, const float* grads, double lr) {
  ++iterations_;
  const std::int64_t n = static_cast<std::int64_t>(count_);
  float* s0 = slots_.data();
  switch (hyper_.kind) {
    case OptimizerKind::kAdam: {
      const double t = static_cast<double>(iterations_);
      const AdamHyper h = adam_hyper(lr, hyper_.beta1, hyper_.beta2, hyper_.epsilon, t);
      float* s1 = s0 + count_;
#pragma omp parallel for schedule(static)
      for (std::int64_t i = 0; i < n; ++i) adam_update(params[i], grads[i], s0[i], s1[i], h);
      break;
    }
    case OptimizerKind::kRmsprop: {
      const float lrf = static_cast<float>(lr), rho = static_cast<float>(hyper_.rho);
      const float eps = static_cast<float>(hyper_.epsilon);
#pragma omp parallel for schedule(static)
      for (std::int64_t i = 0; i < n; ++i) rmsprop_update(params[i], grads[i], s0[i], lrf, rho, eps);
      break;
    }
    case OptimizerKind::kSgd: {
      const float lrf = static_cast<float>(lr), mom = static_cast<float>(hyper_.momentum);
#pragma omp parallel for schedule(static)
      for (std::int64_t i = 0; i < n; ++i) sgd_momentum_update(params[i], grads[i], s0[i], lrf, mom);
      break;
    }
  }
}

}  // namespace mnist_ddp

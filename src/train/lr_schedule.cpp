// lr_schedule.cpp — the scale factor of --lr-scaling and the warm-up ramp.
#include "mnist_ddp/train/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

double lr_scale_factor(LrScaling scaling, int batches_per_update) {
  MNIST_ASSERT(batches_per_update >= 1, "an update of " << batches_per_update << " batches");
  const double k = static_cast<double>(batches_per_update);
  switch (scaling) {
    case LrScaling::kLinear: return k;
    case LrScaling::kSqrt: return std::sqrt(k);
    case LrScaling::kNone: break;
  }
  return 1.0;
}

double LrSchedule::rate(double target, double epochs_done) const {
  if (warmup_epochs <= 0.0 || scale == 1.0) return target;
  const double progress = std::clamp(epochs_done / warmup_epochs, 0.0, 1.0);
  if (progress >= 1.0) return target;
  return target * (1.0 / scale + (1.0 - 1.0 / scale) * progress);
}

}  // namespace mnist_ddp

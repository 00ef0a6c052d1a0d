// lr_schedule.hpp — the learning rate for the global batch: scaling with the
// number of ranks (--lr-scaling) and the gradual warm-up to it (--warmup-epochs).
//
// --lr is the rate for ONE --batch-size batch. An update of W ranks, each
// accumulating K micro-batches (--accumulate), averages the gradient over
// k = W·K such batches, and the rate it is given is --lr · s(k):
//   none    s = 1
//   linear  s = k        (Goyal et al. 2017, "Accurate, Large Minibatch SGD"; Horovod's lr × size)
//   sqrt    s = √k       (the square-root rule; Hoffer et al. 2017, Malladi et al. 2022 for Adam)
// ReduceLROnPlateau acts on that scaled rate (the "target", TrainingState::lr).
//
// Warm-up, as Horovod's LearningRateWarmupCallback: over the first X epochs the
// rate in force rises linearly, per step, from the one-batch rate target/s to
// the target:
//   rate(t) = target · (1/s + (1 − 1/s) · min(1, t / X)),
// t = the epochs done before the step, fractional (epoch + samples consumed / N),
// so the same sample of the same epoch gets the same rate on any rank count.
// With s = 1 (one rank, or no scaling) or X = 0 the rate is the target.
#pragma once

#include <cstddef>
#include <iterator>

#include "mnist_ddp/core/enum_name.hpp"

namespace mnist_ddp {

enum class LrScaling { kNone, kLinear, kSqrt };

// "none", "linear", "sqrt": the names of --lr-scaling and the report.
inline const char* to_string(LrScaling s) {
  return enum_name(s, {"none", "linear", "sqrt"});  // in the enum's order
}

// s(k) for an update averaged over k one-rank batches (k >= 1).
double lr_scale_factor(LrScaling scaling, int batches_per_update);

struct LrSchedule {
  double scale = 1.0;          // s
  double warmup_epochs = 0.0;  // X

  // The rate in force for a step taken after `epochs_done` (fractional) epochs.
  double rate(double target, double epochs_done) const;
};

}  // namespace mnist_ddp

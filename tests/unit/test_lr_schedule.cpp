// test_lr_schedule.cpp — --lr-scaling and --warmup-epochs: the scale factor and
// the per-step warm-up ramp, to the exact values of their formulas.
#include <gtest/gtest.h>

#include <cmath>

#include <sstream>

#include "mnist_ddp/cli/step_settings.hpp"
#include "mnist_ddp/cli/trainer_settings.hpp"
#include "mnist_ddp/cpu/cpu_step_backend.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/nn/spec.hpp"
#include "mnist_ddp/train/lr_schedule.hpp"
#include "mnist_ddp/train/trainer.hpp"

namespace mnist_ddp {
namespace {

TEST(LrSchedule, ScaleFactors) {
  EXPECT_EQ(lr_scale_factor(LrScaling::kNone, 8), 1.0);
  EXPECT_EQ(lr_scale_factor(LrScaling::kLinear, 8), 8.0);
  EXPECT_EQ(lr_scale_factor(LrScaling::kSqrt, 4), 2.0);
  EXPECT_EQ(lr_scale_factor(LrScaling::kSqrt, 2), std::sqrt(2.0));
  for (LrScaling s : {LrScaling::kNone, LrScaling::kLinear, LrScaling::kSqrt}) EXPECT_EQ(lr_scale_factor(s, 1), 1.0);
}

// Horovod's LearningRateWarmupCallback: lr' = lr/s · (t·(s−1)/X + 1).
TEST(LrSchedule, WarmupRampsFromTheOneRankRate) {
  const LrSchedule s{4.0, 2.0};  // 4 ranks, linear; two epochs of warm-up
  const double target = 4e-3;
  EXPECT_DOUBLE_EQ(s.rate(target, 0.0), 1e-3);                 // the one-rank rate at the first step
  EXPECT_DOUBLE_EQ(s.rate(target, 0.5), 1e-3 * (0.5 * 3 / 2 + 1));  // 1.75e-3
  EXPECT_DOUBLE_EQ(s.rate(target, 1.0), 2.5e-3);
  EXPECT_DOUBLE_EQ(s.rate(target, 1.5), 3.25e-3);
  EXPECT_EQ(s.rate(target, 2.0), target);                      // done: the target itself
  EXPECT_EQ(s.rate(target, 7.25), target);
  // Linear in t in between, and monotone.
  double previous = 0;
  for (int i = 0; i <= 40; ++i) {
    const double t = i * 0.05;
    const double r = s.rate(target, t);
    EXPECT_NEAR(r, 1e-3 + (target - 1e-3) * t / 2.0, 1e-18) << "t " << t;
    EXPECT_GE(r, previous);
    previous = r;
  }
}

TEST(LrSchedule, NoRampWithoutScalingOrWarmup) {
  EXPECT_EQ((LrSchedule{1.0, 3.0}).rate(1e-3, 0.0), 1e-3);  // one rank, or --lr-scaling none
  EXPECT_EQ((LrSchedule{8.0, 0.0}).rate(8e-3, 0.0), 8e-3);  // --warmup-epochs 0
}

// ReduceLROnPlateau's cut of the target during warm-up scales the whole ramp.
TEST(LrSchedule, RampFollowsAReducedTarget) {
  const LrSchedule s{2.0, 1.0};
  EXPECT_DOUBLE_EQ(s.rate(2e-3, 0.5), 1.5e-3);
  EXPECT_DOUBLE_EQ(s.rate(1e-3, 0.5), 0.75e-3);
}

// The trainer: the scaled target from the start, and a checkpoint's target
// rescaled from its factor to this run's (k = ranks x --accumulate: here 1 x 4).
TEST(LrSchedule, TrainerScalesAndRescalesOnResume) {
  Config c;
  c.batch_size = c.eval_batch_size = 8;
  c.accumulate = 4;
  c.lr = 1e-3;
  c.lr_scaling = LrScaling::kLinear;
  SingleProcessCommunicator comm;
  Model model(seed_cnn(), kMnistInput, 8);
  CpuStepBackend backend(step_settings(c), comm, model);
  std::ostringstream log;
  Trainer trainer(trainer_settings(c), comm, model, log, backend);
  EXPECT_EQ(trainer.lr_scale(), 4.0);
  EXPECT_DOUBLE_EQ(trainer.state().lr, 4e-3);
  EXPECT_EQ(trainer.state().lr_scale, 4.0);
  TrainingState saved = trainer.state();
  saved.lr = 1e-3;  // made by 2 ranks with linear scaling, after one ReduceLROnPlateau cut by half
  saved.lr_scale = 2.0;
  trainer.restore(saved);
  EXPECT_DOUBLE_EQ(trainer.state().lr, 2e-3);
  EXPECT_EQ(trainer.state().lr_scale, 4.0);
}

}  // namespace
}  // namespace mnist_ddp

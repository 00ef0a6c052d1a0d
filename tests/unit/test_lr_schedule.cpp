// test_lr_schedule.cpp — --lr-scaling and --warmup-epochs: the scale factor and
// the per-step warm-up ramp, to the exact values of their formulas.
#include <gtest/gtest.h>

#include <cmath>

#include "mnist_ddp/train/lr_schedule.hpp"

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

}  // namespace
}  // namespace mnist_ddp

// test_callbacks.cpp — EarlyStopping and ReduceLROnPlateau against scripted
// val_loss sequences. Each expectation is worked out by hand from the Keras 3
// source (keras/src/callbacks/early_stopping.py, reduce_lr_on_plateau.py);
// the derivation is in the comment above it, so a failure can be checked
// against Keras rather than against this implementation.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "mnist_ddp/train/callbacks.hpp"

namespace mnist_ddp {
namespace {

// The epoch (0-based) at which EarlyStopping asks to stop, or -1.
int stop_epoch(EarlyStopping& es, const std::vector<double>& losses) {
  for (int e = 0; e < static_cast<int>(losses.size()); ++e)
    if (es.on_epoch_end(e, losses[e])) return e;
  return -1;
}

// The learning rate after each epoch.
std::vector<double> lr_trace(ReduceLROnPlateau& rlr, const std::vector<double>& losses, double lr) {
  std::vector<double> out;
  for (int e = 0; e < static_cast<int>(losses.size()); ++e) {
    lr = rlr.on_epoch_end(e, losses[e], lr);
    out.push_back(lr);
  }
  return out;
}

TEST(CallbacksEarlyStopping, StopsWhenWaitReachesPatience) {
  // patience 5, min_delta 0. Keras: wait += 1, then reset to 0 on improvement.
  //   e0 1.00 < inf  -> best 1.00, best_epoch 0, wait 0
  //   e1 0.90 < 1.00 -> best 0.90, best_epoch 1, wait 0
  //   e2..e6 no improvement -> wait 1, 2, 3, 4, 5; at e6 wait >= 5 -> stop
  EarlyStoppingConfig cfg;
  cfg.patience = 5;
  EarlyStopping es(cfg);
  EXPECT_EQ(stop_epoch(es, {1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0, 1.01}), 6);
  EXPECT_EQ(es.best_epoch(), 1);
  EXPECT_DOUBLE_EQ(es.best(), 0.9);
  EXPECT_EQ(es.wait(), 5);
}

TEST(CallbacksEarlyStopping, ImprovementResetsWait) {
  // patience 2:
  //   e0 1.0 best; e1 1.1 wait 1; e2 0.8 best (wait 0, best_epoch 2);
  //   e3 0.9 wait 1; e4 0.9 wait 2 >= 2 -> stop at 4.
  EarlyStoppingConfig cfg;
  cfg.patience = 2;
  EarlyStopping es(cfg);
  std::vector<double> losses = {1.0, 1.1, 0.8, 0.9, 0.9};
  std::vector<bool> improved;
  int stopped = -1;
  for (int e = 0; e < 5 && stopped < 0; ++e) {
    if (es.on_epoch_end(e, losses[e])) stopped = e;
    improved.push_back(es.improved());
  }
  EXPECT_EQ(stopped, 4);
  EXPECT_EQ(improved, (std::vector<bool>{true, false, true, false, false}));
  EXPECT_EQ(es.best_epoch(), 2);
}

TEST(CallbacksEarlyStopping, PatienceZeroNeverStopsOnFirstEpoch) {
  // patience 0: Keras stops on the first non-improving epoch, but never at
  // epoch 0 ("wait >= patience and epoch > 0"). A NaN at e0 is no improvement
  // (NaN < inf is false): wait 1 >= 0 but epoch 0 -> go on. With
  // restore_best_weights Keras still snapshots e0's weights (best_epoch 0).
  //   e1 1.0 < inf -> best, wait 0; e2 2.0 -> wait 1 >= 0 -> stop at 2.
  EarlyStoppingConfig cfg;
  cfg.patience = 0;
  EarlyStopping es(cfg);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(es.on_epoch_end(0, nan));
  EXPECT_TRUE(es.improved());  // the snapshot Keras takes on its first epoch
  EXPECT_EQ(es.best_epoch(), 0);
  EXPECT_FALSE(es.on_epoch_end(1, 1.0));
  EXPECT_EQ(es.best_epoch(), 1);
  EXPECT_TRUE(es.on_epoch_end(2, 2.0));
}

TEST(CallbacksEarlyStopping, MinDeltaDemandsALargerImprovement) {
  // Same losses, patience 2. Keras in mode 'min' tests current + |min_delta| < best.
  //   min_delta 0:    e0 best 1.0; e1 0.99995 < 1.0 best; e2 0.99991 best;
  //                   e3 0.99985 best -> never stops, best_epoch 3.
  //   min_delta 1e-4: e0 best 1.0; e1 0.99995 + 1e-4 = 1.00005 !< 1.0 -> wait 1;
  //                   e2 0.99991 + 1e-4 = 1.00001 !< 1.0 -> wait 2 >= 2 -> stop at 2.
  const std::vector<double> losses = {1.0, 0.99995, 0.99991, 0.99985};
  EarlyStoppingConfig cfg;
  cfg.patience = 2;
  EarlyStopping plain(cfg);
  EXPECT_EQ(stop_epoch(plain, losses), -1);
  EXPECT_EQ(plain.best_epoch(), 3);

  cfg.min_delta = 1e-4;
  EarlyStopping strict(cfg);
  EXPECT_EQ(stop_epoch(strict, losses), 2);
  EXPECT_EQ(strict.best_epoch(), 0);
}

TEST(CallbacksReduceLr, HalvesAfterPatienceEpochsWithoutImprovement) {
  // patience 3, factor 0.5, min_lr 1e-5, min_delta 1e-4, lr 1e-3:
  //   e0 1.00 < inf - 1e-4 -> best; e1 0.90 < 0.9999 -> best
  //   e2 wait 1, e3 wait 2, e4 wait 3 >= 3 -> lr 5e-4, wait 0
  //   e5 wait 1, e6 wait 2, e7 wait 3 -> lr 2.5e-4, wait 0
  //   e8 wait 1
  ReduceLrConfig cfg;
  cfg.patience = 3;
  cfg.factor = 0.5;
  cfg.min_lr = 1e-5;
  cfg.min_delta = 1e-4;
  ReduceLROnPlateau rlr(cfg);
  const auto lrs = lr_trace(rlr, {1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0, 1.01}, 1e-3);
  const std::vector<double> expected = {1e-3, 1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 2.5e-4, 2.5e-4};
  ASSERT_EQ(lrs.size(), expected.size());
  for (std::size_t i = 0; i < lrs.size(); ++i) EXPECT_DOUBLE_EQ(lrs[i], expected[i]) << "epoch " << i;
  EXPECT_EQ(rlr.wait(), 1);
}

TEST(CallbacksReduceLr, NeverGoesBelowMinLr) {
  // patience 1, factor 0.5, min_lr 1e-5, lr 4e-5:
  //   e0 best 1.0; e1 wait 1 -> 2e-5; e2 wait 1 -> max(1e-5, 1e-5) = 1e-5;
  //   e3 wait 1, lr 1e-5 is not > min_lr -> unchanged, and Keras does not
  //   reset wait; e4 wait 2, unchanged.
  ReduceLrConfig cfg;
  cfg.patience = 1;
  cfg.factor = 0.5;
  cfg.min_lr = 1e-5;
  ReduceLROnPlateau rlr(cfg);
  const auto lrs = lr_trace(rlr, {1, 2, 2, 2, 2}, 4e-5);
  const std::vector<double> expected = {4e-5, 2e-5, 1e-5, 1e-5, 1e-5};
  for (std::size_t i = 0; i < lrs.size(); ++i) EXPECT_DOUBLE_EQ(lrs[i], expected[i]) << "epoch " << i;
  EXPECT_EQ(rlr.wait(), 2);
}

TEST(CallbacksReduceLr, SmallImprovementDoesNotResetWait) {
  // patience 2, min_delta 1e-4, lr 1e-3: improvement means current < best - 1e-4.
  //   e0 1.0 best; e1 0.99995 !< 0.9999 -> wait 1;
  //   e2 0.99991 !< 0.9999 -> wait 2 >= 2 -> lr 5e-4
  // (EarlyStopping with min_delta 0 counts both as improvements; see above.)
  ReduceLrConfig cfg;
  cfg.patience = 2;
  cfg.min_delta = 1e-4;
  ReduceLROnPlateau rlr(cfg);
  const auto lrs = lr_trace(rlr, {1.0, 0.99995, 0.99991}, 1e-3);
  EXPECT_DOUBLE_EQ(lrs[1], 1e-3);
  EXPECT_DOUBLE_EQ(lrs[2], 5e-4);
}

TEST(CallbacksReduceLr, CooldownSkipsEpochs) {
  // patience 1, cooldown 2, factor 0.5, min_lr 0, min_delta 0, lr 1.0:
  //   e0 best 1
  //   e1 wait 1 -> lr 0.5, cooldown 2
  //   e2 cooldown 2 -> 1, wait 0; no improvement, in cooldown -> nothing
  //   e3 cooldown 1 -> 0, wait 0; no improvement, not in cooldown -> wait 1 -> lr 0.25, cooldown 2
  //   e4 cooldown -> 1; e5 cooldown -> 0, wait 1 -> lr 0.125; e6 cooldown -> 1
  ReduceLrConfig cfg;
  cfg.patience = 1;
  cfg.cooldown = 2;
  cfg.factor = 0.5;
  cfg.min_lr = 0;
  cfg.min_delta = 0;
  ReduceLROnPlateau rlr(cfg);
  const auto lrs = lr_trace(rlr, {1, 2, 2, 2, 2, 2, 2}, 1.0);
  EXPECT_EQ(lrs, (std::vector<double>{1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125}));
}

TEST(CallbacksEpoch, CombinesBothCallbacks) {
  // Defaults (EarlyStopping patience 5; ReduceLR patience 3, factor 0.5) on the
  // sequence of StopsWhenWaitReachesPatience / HalvesAfterPatience...: lr halves
  // at e4, stop at e6, best epoch 1 throughout from e1.
  EpochCallbacks cb(EarlyStoppingConfig{}, ReduceLrConfig{});
  const std::vector<double> losses = {1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99};
  double lr = 1e-3;
  Decision d;
  for (int e = 0; e < static_cast<int>(losses.size()); ++e) {
    d = cb.on_epoch_end(e, losses[e], lr);
    EXPECT_EQ(d.improved, e <= 1 ? 1 : 0) << "epoch " << e;
    EXPECT_EQ(d.stop, e == 6 ? 1 : 0) << "epoch " << e;
    EXPECT_EQ(d.best_epoch, e == 0 ? 0 : 1);
    EXPECT_DOUBLE_EQ(d.lr, e >= 4 ? 5e-4 : 1e-3) << "epoch " << e;
    lr = d.lr;
  }
}

TEST(CallbacksEpoch, DisabledCallbacksStillTrackTheBestEpoch) {
  // Without early stopping the run goes on past e6 (where it would have
  // stopped), but the best epoch is still followed for restore-best-weights;
  // without ReduceLR the lr passes through.
  EarlyStoppingConfig es;
  es.enabled = false;
  ReduceLrConfig rlr;
  rlr.enabled = false;
  EpochCallbacks cb(es, rlr);
  const std::vector<double> losses = {1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0, 0.85, 0.86};
  for (int e = 0; e < static_cast<int>(losses.size()); ++e) {
    const Decision d = cb.on_epoch_end(e, losses[e], 1e-3);
    EXPECT_EQ(d.stop, 0) << "epoch " << e;
    EXPECT_DOUBLE_EQ(d.lr, 1e-3);
    EXPECT_EQ(d.improved, (e <= 1 || e == 8) ? 1 : 0) << "epoch " << e;
    EXPECT_EQ(d.best_epoch, e == 0 ? 0 : (e < 8 ? 1 : 8)) << "epoch " << e;
  }
}

}  // namespace
}  // namespace mnist_ddp

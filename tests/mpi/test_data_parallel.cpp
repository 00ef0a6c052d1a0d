// test_data_parallel.cpp — the data-parallel guarantees, checked under real MPI.
//
// These tests run on every rank of an mpirun job (1, 2, 3, 4 and 7 ranks in
// ctest) and are collective: every rank executes the same collectives in the
// same order, so assertions that could end a test early on one rank only are
// placed after the last collective of the test (or are EXPECTs), otherwise a
// failure on one rank would become a deadlock on the others. What they pin
// down:
//  - data-parallel training keeps ONE model: after real steps with
//    augmentation, dropout and BatchNorm the weights and BatchNorm statistics
//    are bitwise identical on all ranks;
//  - N ranks with per-rank batch B/N take the same step as one process with
//    batch B (the sampler's shards partition the global batch, and the
//    averaged per-rank mean gradients are the global mean gradient);
//  - rank 0 alone decides EarlyStopping / ReduceLROnPlateau and everyone
//    follows, whatever the other ranks' own numbers say;
//  - sharded evaluation counts every image exactly once and reduces to the
//    single-process result;
//  - uneven shards (n not divisible by the world size) neither deadlock nor
//    lose or double-count evaluation images.
// Data: the real MNIST at MNIST_DDP_DATA_DIR, small slices of it, one compute
// thread per rank (mpi_main.cpp), so that 7 oversubscribed ranks on 2 cores
// still finish in well under a minute.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

#include "mnist_ddp/cli/trainer_settings.hpp"
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/data/idx.hpp"
#include "mnist_ddp/data/sampler.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/dist/mpi_communicator.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/spec.hpp"
#include "mnist_ddp/train/callbacks.hpp"
#include "mnist_ddp/train/decision.hpp"
#include "mnist_ddp/cli/trainer_settings.hpp"
#include "mnist_ddp/cli/step_settings.hpp"
#include "mnist_ddp/cpu/cpu_step_backend.hpp"
#include "mnist_ddp/train/trainer.hpp"
#include "support/mnist_data.hpp"

namespace mnist_ddp {
namespace {

// Loaded once per process (test_support): a skip on a missing data set is
// collective, every rank gets the same answer.
using test_support::real_mnist;


Config quiet_config() {
  Config c;
  c.epochs = 1;
  c.progress = ProgressMode::kNone;
  c.threads = 1;
  return c;
}

// Collective: the largest |x - x_root| over all elements and all ranks
// (x_root is rank 0's copy, broadcast). all_gather sums one non-zero slot per
// rank, so the per-rank maxima travel exactly.
double max_abs_diff_from_root(Communicator& comm, const std::vector<float>& x) {
  std::vector<float> root = x;
  comm.broadcast(root.data(), root.size() * sizeof(float), 0);
  double local = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i)
    local = std::max(local, std::fabs(static_cast<double>(x[i]) - static_cast<double>(root[i])));
  const std::vector<double> all = all_gather(comm, local);
  return *std::max_element(all.begin(), all.end());
}

// Collective: true when `value` is the same on every rank.
bool same_on_all_ranks(Communicator& comm, double value) {
  const std::vector<double> all = all_gather(comm, value);
  return std::all_of(all.begin(), all.end(), [&](double v) { return v == all[0]; });
}

// 1. Real training steps — augmentation, dropout, BatchNorm with precise
// statistics — leave bitwise the same weights and state on every rank.
TEST(MpiTraining, WeightsBitwiseIdenticalAfterSteps) {
  REQUIRE_MNIST(data);
  MpiCommunicator comm;
  Config config = quiet_config();
  config.batch_size = 16;
  config.eval_batch_size = 16;
  config.augment = true;
  config.precise_bn_images = 48;
  const MnistSet train = take_first(data->train, 512);
  const MnistSet no_val;

  Model model(seed_cnn(), kMnistInput, 16);
  model.initialize(config.seed);
  const std::vector<float> initial = model.params();
  std::ostringstream log;
  CpuStepBackend trainer_backend(step_settings(config), comm, model);
  Trainer trainer(trainer_settings(config), comm, model, log, trainer_backend);
  trainer.broadcast_weights();
  const TrainResult fit = trainer.fit(train, no_val);

  const bool params_identical = identical_on_all_ranks(comm, model.params().data(), model.params().size());
  const bool state_identical = identical_on_all_ranks(comm, model.state().data(), model.state().size());
  const double params_diff = max_abs_diff_from_root(comm, model.params());
  const double state_diff = max_abs_diff_from_root(comm, model.state());
  // Every rank must have taken the same number of steps (or the collectives
  // would not have matched at all).
  const bool same_steps = same_on_all_ranks(comm, static_cast<double>(fit.steps));

  EXPECT_TRUE(params_identical);
  EXPECT_TRUE(state_identical);
  EXPECT_EQ(params_diff, 0.0) << "the ranks' parameters differ";
  EXPECT_EQ(state_diff, 0.0) << "the ranks' BatchNorm statistics differ";
  EXPECT_TRUE(same_steps);
  const std::int64_t shard = (512 + comm.size() - 1) / comm.size();
  EXPECT_EQ(fit.shard_size, shard);
  EXPECT_EQ(fit.steps, (shard + 15) / 16);
  EXPECT_NE(model.params(), initial) << "training did not change the weights: the test would prove nothing";
  ASSERT_EQ(fit.history.size(), 1u);
  EXPECT_TRUE(std::isfinite(fit.history[0].loss));
}

// 2. N ranks with batch B/N each take exactly the step one process takes with
// batch B.
//
// Why the union of the rank batches IS the single-process batch: the dataset
// has exactly B images and B is a multiple of N, so ShardSampler adds no
// padding. Every rank draws the same permutation p of 0..B-1 from (seed,
// epoch 0) — the single process draws that same p, as it depends on neither
// rank nor world size — and rank r takes positions r, r+N, r+2N, ...: B/N
// samples, one batch, one step. Those N interleaved slices partition p, i.e.
// all B images, which is exactly the single process's one batch of B. Each
// rank's gradient is the mean over its B/N samples (dlogits scaled 1/n), the
// trainer averages the N of them, and the mean of equal-sized group means is
// the mean over all B. With SGD (momentum 0) the update is lr · gradient, so
// the parameters agree up to float summation order. The model has no
// BatchNorm (batch statistics would differ per shard) and no Dropout (masks
// are keyed by sample id, so they would agree, but the model stays minimal),
// and augmentation is off.
TEST(MpiTraining, EquivalentToSingleProcessLargeBatch) {
  REQUIRE_MNIST(data);
  MpiCommunicator comm;
  const int world = comm.size();
  // 24 is divisible by 1, 2, 3 and 4; for other world sizes take the smallest
  // multiple of N not below 24 (28 for 7 ranks).
  const int global_batch = world * ((24 + world - 1) / world);
  const MnistSet train = take_first(data->train, global_batch);
  const MnistSet no_val;

  std::vector<LayerSpec> specs;
  specs.push_back(LayerSpec{LayerKind::kConv2D, 8, 3, Activation::kRelu});
  specs.push_back(LayerSpec{LayerKind::kMaxPool, 0, 2});
  specs.push_back(LayerSpec{LayerKind::kFlatten});
  specs.push_back(LayerSpec{LayerKind::kDense, 10, 0, Activation::kSoftmax});

  Config config = quiet_config();
  config.augment = false;
  config.optimizer = OptimizerKind::kSgd;
  config.momentum = 0.0;
  config.lr = 0.1;
  config.precise_bn_images = 0;

  // Distributed: batch B/N per rank.
  Config dist_config = config;
  dist_config.batch_size = global_batch / world;
  dist_config.eval_batch_size = global_batch / world;
  Model dist_model(specs, kMnistInput, global_batch / world);
  dist_model.initialize(config.seed);
  const std::vector<float> initial = dist_model.params();
  std::ostringstream log;
  CpuStepBackend dist_trainer_backend(step_settings(dist_config), comm, dist_model);
  Trainer dist_trainer(trainer_settings(dist_config), comm, dist_model, log, dist_trainer_backend);
  dist_trainer.broadcast_weights();
  const TrainResult dist_fit = dist_trainer.fit(train, no_val);
  const bool identical = identical_on_all_ranks(comm, dist_model.params().data(), dist_model.params().size());

  // Reference, computed locally on every rank: one process, batch B, same seed.
  Config ref_config = config;
  ref_config.batch_size = global_batch;
  ref_config.eval_batch_size = global_batch;
  SingleProcessCommunicator single;
  Model ref_model(specs, kMnistInput, global_batch);
  ref_model.initialize(config.seed);
  CpuStepBackend ref_trainer_backend(step_settings(ref_config), single, ref_model);
  Trainer ref_trainer(trainer_settings(ref_config), single, ref_model, log, ref_trainer_backend);
  const TrainResult ref_fit = ref_trainer.fit(train, no_val);

  EXPECT_TRUE(identical);
  EXPECT_EQ(dist_fit.steps, 1);
  EXPECT_EQ(ref_fit.steps, 1);
  ASSERT_EQ(dist_model.params().size(), ref_model.params().size());
  double worst = 0.0, moved = 0.0;
  std::size_t worst_at = 0;
  for (std::size_t i = 0; i < ref_model.params().size(); ++i) {
    const double d = dist_model.params()[i], r = ref_model.params()[i];
    const double excess = std::fabs(d - r) / std::max(1.0, std::fabs(r));
    if (excess > worst) {
      worst = excess;
      worst_at = i;
    }
    moved = std::max(moved, std::fabs(r - static_cast<double>(initial[i])));
  }
  EXPECT_LE(worst, 1e-5) << "parameter " << worst_at << ": distributed " << dist_model.params()[worst_at]
                         << ", single process " << ref_model.params()[worst_at];
  // The step must be large against the tolerance, or agreement proves nothing.
  EXPECT_GT(moved, 1e-3);
  // The epoch loss is the same mean over the same B samples.
  ASSERT_EQ(dist_fit.history.size(), 1u);
  ASSERT_EQ(ref_fit.history.size(), 1u);
  EXPECT_NEAR(dist_fit.history[0].loss, ref_fit.history[0].loss, 1e-5 * ref_fit.history[0].loss);
}

// 3. Rank 0's callbacks decide for everyone.
//
// Scripted val_loss on rank 0: 1.0, 0.8, 0.81, 0.82, ... (+0.01 per epoch),
// with Keras defaults: EarlyStopping(patience 5, min_delta 0) and
// ReduceLROnPlateau(patience 3, factor 0.5, min_delta 1e-4, min_lr 1e-5).
// By hand, per Keras's semantics (callbacks.hpp):
//   epoch 0: 1.0  — new best for both (ES wait 0, RLR wait 0); improved.
//   epoch 1: 0.8  — new best for both; improved; best epoch 1.
//   epoch 2: 0.81 — no improvement: ES wait 1, RLR wait 1.
//   epoch 3: 0.82 — ES wait 2, RLR wait 2.
//   epoch 4: 0.83 — ES wait 3, RLR wait 3 >= patience 3: lr 1e-3 -> 5e-4, RLR wait 0.
//   epoch 5: 0.84 — ES wait 4, RLR wait 1.
//   epoch 6: 0.85 — ES wait 5 >= patience 5 (and epoch > 0): stop.
// So: one lr reduction, decided after epoch index 4; stop after index 6; best
// epoch index 1. The other ranks feed garbage that, had their own callbacks
// been consulted, would never stop (steadily decreasing) or would stop and
// decay at random times (random values, NaN) — they must still follow rank 0.
TEST(MpiDecision, RankZeroDecidesForAll) {
  MpiCommunicator comm;
  const int rank = comm.rank();
  EpochCallbacks callbacks{EarlyStoppingConfig{}, ReduceLrConfig{}};
  const std::vector<double> script = {1.0, 0.8, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86, 0.87, 0.88, 0.89, 0.90};
  std::mt19937_64 garbage(1234 + rank);
  std::uniform_real_distribution<double> uniform(0.0, 10.0);

  const double initial_lr = 1e-3;
  double lr = initial_lr;
  std::vector<int> reductions, improved;
  int stop_epoch = -1, best_epoch = -1, disagreements = 0;
  for (int epoch = 0; epoch < static_cast<int>(script.size()); ++epoch) {
    double val_loss = script[epoch];
    if (rank != 0) {
      switch (rank % 3) {
        case 0: val_loss = uniform(garbage); break;
        case 1: val_loss = 1.0 / (epoch + 1); break;  // always improving
        default: val_loss = epoch % 2 ? std::nan("") : uniform(garbage); break;
      }
    }
    const Decision d = decide_on_root(comm, callbacks, epoch, val_loss, lr);
    // Every field of every rank's Decision against rank 0's. The loop exits on
    // rank 0's stop flag as gathered here, so even a broken broadcast cannot
    // make the ranks leave the loop at different epochs (and deadlock).
    const std::vector<double> stop = all_gather(comm, d.stop);
    // (All four collectives run on every rank: no short-circuit.)
    const bool agree[4] = {same_on_all_ranks(comm, d.lr), same_on_all_ranks(comm, d.stop),
                           same_on_all_ranks(comm, d.improved), same_on_all_ranks(comm, d.best_epoch)};
    if (!(agree[0] && agree[1] && agree[2] && agree[3])) ++disagreements;
    if (d.lr != lr) reductions.push_back(epoch);
    if (d.improved) improved.push_back(epoch);
    lr = d.lr;
    best_epoch = d.best_epoch;
    if (stop[0] != 0.0) {
      stop_epoch = epoch;
      break;
    }
  }

  EXPECT_EQ(disagreements, 0) << "the ranks received different decisions";
  EXPECT_EQ(reductions, std::vector<int>({4}));
  EXPECT_DOUBLE_EQ(lr, 0.5 * initial_lr);
  EXPECT_EQ(stop_epoch, 6);
  EXPECT_EQ(best_epoch, 1);
  EXPECT_EQ(improved, std::vector<int>({0, 1}));
}

// 4. Sharded evaluation reduces to exactly the single-process result.
//
// "Exactly" needs care: the CPU forward pass is NOT batch-invariant at the
// last bit. oneDNN's inner product (Dense, with the batch as a GEMM matrix
// dimension) and its convolutions block the batch, and round a row differently depending on the
// matrix size and the row's position in it — measured (with OpenBLAS's sgemm for Dense): logits move by ~3e-8
// absolute (1 ulp-ish) between a batch of 96 and batches of 1, 7 or 40. So:
//  - eval batch 1: every image goes through the identical primitive calls in both
//    runs, the per-image losses are bitwise equal and only the order of the
//    double-precision sum differs → confusion matrix identical, loss within
//    1e-12 relative;
//  - eval batch 96 (cut differently: shards start at rank boundaries, and the
//    last batch of each shard is short): every image is still counted once
//    (count 1000, each true-label row of the matrix identical), the loss agrees
//    to float rounding (1e-6 relative) and predictions may only flip on a
//    near-tie (accuracy within 2 images).
TEST(MpiEvaluation, ShardedEqualsSingleProcess) {
  REQUIRE_MNIST(data);
  MpiCommunicator comm;
  Config train_config = quiet_config();
  train_config.batch_size = 16;
  train_config.eval_batch_size = 16;
  train_config.augment = false;
  train_config.precise_bn_images = 64;
  const MnistSet test = take_first(data->test, 1000);

  // A different initialisation on every rank: only broadcast_weights makes
  // them one model. A short epoch then makes predictions (and BatchNorm
  // statistics) non-trivial, so the confusion matrix has more than one column.
  Model model(seed_cnn(), kMnistInput, 96);
  model.initialize(train_config.seed + static_cast<std::uint64_t>(comm.rank()));
  std::ostringstream log;
  CpuStepBackend trainer_backend(step_settings(train_config), comm, model);
  Trainer trainer(trainer_settings(train_config), comm, model, log, trainer_backend);
  trainer.broadcast_weights();
  const bool broadcast_ok = identical_on_all_ranks(comm, model.params().data(), model.params().size()) &&
                            identical_on_all_ranks(comm, model.state().data(), model.state().size());
  trainer.fit(take_first(data->train, 256), MnistSet{});
  EXPECT_TRUE(broadcast_ok);

  for (const int eval_batch : {1, 96}) {
    SCOPED_TRACE("eval batch " + std::to_string(eval_batch));
    Config config = train_config;  // outlives both trainers (they keep a reference)
    config.eval_batch_size = eval_batch;
    CpuStepBackend sharded_trainer_backend(step_settings(config), comm, model);
    Trainer sharded_trainer(trainer_settings(config), comm, model, log, sharded_trainer_backend);
    const EvalResult sharded = sharded_trainer.evaluate(test);
    // The reference on every rank, locally: same model, one process.
    SingleProcessCommunicator single;
    CpuStepBackend local_backend(step_settings(config), single, model);
    Trainer local(trainer_settings(config), single, model, log, local_backend);
    const EvalResult ref = local.evaluate(test);

    EXPECT_EQ(sharded.count, 1000);
    EXPECT_EQ(ref.count, 1000);
    for (int t = 0; t < kNumClasses; ++t) {
      std::int64_t a = 0, b = 0;
      for (int p = 0; p < kNumClasses; ++p) {
        a += sharded.confusion.counts[t][p];
        b += ref.confusion.counts[t][p];
      }
      EXPECT_EQ(a, b) << "true label " << t << " counted differently";
    }
    if (eval_batch == 1) {
      EXPECT_TRUE(sharded.confusion.counts == ref.confusion.counts) << "the confusion matrices differ";
      EXPECT_EQ(sharded.accuracy, ref.accuracy);
      EXPECT_LE(std::fabs(sharded.loss - ref.loss), 1e-12 * std::fabs(ref.loss))
          << "sharded " << sharded.loss << ", single process " << ref.loss;
    } else {
      EXPECT_LE(std::fabs(sharded.accuracy - ref.accuracy), 2.0 / 1000);
      EXPECT_LE(std::fabs(sharded.loss - ref.loss), 1e-6 * std::fabs(ref.loss))
          << "sharded " << sharded.loss << ", single process " << ref.loss;
    }
    int predicted_classes = 0;
    for (int p = 0; p < kNumClasses; ++p) {
      std::int64_t column = 0;
      for (int t = 0; t < kNumClasses; ++t) column += ref.confusion.counts[t][p];
      predicted_classes += column > 0 ? 1 : 0;
    }
    EXPECT_GE(predicted_classes, 3) << "the model predicts almost one class: a weak test";
  }
}

// 5. Uneven shards: n divisible by no world size but 1 (and 2, 4, 8 only for
// the test set) — the sampler pads training with wrap-around repeats so all
// ranks take the same number of steps; evaluation's contiguous blocks differ
// in size by one but cover every image exactly once.
TEST(MpiTraining, UnevenShards) {
  REQUIRE_MNIST(data);
  MpiCommunicator comm;
  const int world = comm.size();
  Config config = quiet_config();
  config.batch_size = 32;
  config.eval_batch_size = 64;
  config.augment = true;
  config.precise_bn_images = 64;
  const MnistSet train = take_first(data->train, 1000);
  const MnistSet test = take_first(data->test, 997);

  Model model(seed_cnn(), kMnistInput, 64);
  model.initialize(config.seed);
  std::ostringstream log;
  CpuStepBackend trainer_backend(step_settings(config), comm, model);
  Trainer trainer(trainer_settings(config), comm, model, log, trainer_backend);
  trainer.broadcast_weights();
  const TrainResult fit = trainer.fit(train, MnistSet{});
  const EvalResult result = trainer.evaluate(test);
  const bool identical = identical_on_all_ranks(comm, model.params().data(), model.params().size()) &&
                         identical_on_all_ranks(comm, model.state().data(), model.state().size());
  const auto [begin, end] = shard_range(test.count, world, comm.rank());
  const std::vector<double> eval_shards = all_gather(comm, static_cast<double>(end - begin));
  const bool same_steps = same_on_all_ranks(comm, static_cast<double>(fit.steps));

  const std::int64_t shard = (1000 + world - 1) / world;
  EXPECT_EQ(fit.shard_size, shard);
  EXPECT_EQ(fit.steps, (shard + 31) / 32);
  EXPECT_TRUE(same_steps);
  EXPECT_EQ(result.count, 997);
  EXPECT_EQ(result.confusion.total(), 997);
  double covered = 0.0;
  for (double s : eval_shards) {
    covered += s;
    EXPECT_LE(std::fabs(s - 997.0 / world), 1.0);
  }
  EXPECT_EQ(covered, 997.0);
  EXPECT_TRUE(identical) << "the ranks ended with different weights";
}

}  // namespace
}  // namespace mnist_ddp

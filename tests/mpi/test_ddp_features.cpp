// test_ddp_features.cpp — what users of Horovod and PyTorch DDP expect, under
// real MPI (1, 2, 3, 4 and 7 ranks in ctest), each checked against one process
// taking the whole global batch:
//  - --lr-scaling linear: N ranks x B/N images at lr take the step one process
//    takes with B images at N x lr; with --warmup-epochs the first step is
//    taken at the one-rank rate, and the epoch record shows the rate in force
//    and the scaled target.
//  - --accumulate K: K micro-batches of B/K per rank take the step of one
//    batch of B, with one gradient reduction per update (counted in the
//    reducer), with and without buckets.
//  - --sync-bn: one step on N ranks x B/N images equals one step on one rank
//    x B images with BatchNorm in training mode — loss, every gradient, the
//    updated weights and the moving statistics, to float tolerance — where
//    without it the gradients differ; the same on the GPU backend, one GPU per
//    rank (skipped without them).
// Collective like test_data_parallel.cpp: assertions only after the last
// collective of a test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>
#include <utility>
#include <vector>

#include "mnist_ddp/cli/step_settings.hpp"
#include "mnist_ddp/cli/trainer_settings.hpp"
#include "mnist_ddp/cpu/cpu_step_backend.hpp"
#if MNIST_DDP_HAVE_CUDA
#include "mnist_ddp/cuda/cuda_step_backend.hpp"
#include "mnist_ddp/cuda/device.hpp"
#endif
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/dist/mpi_communicator.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/optimizer.hpp"
#include "mnist_ddp/nn/spec.hpp"
#include "mnist_ddp/train/decision.hpp"
#include "mnist_ddp/train/trainer.hpp"
#include "support/mnist_data.hpp"

namespace mnist_ddp {
namespace {

// A small network without BatchNorm or Dropout: conv, pool, dense.
std::vector<LayerSpec> small_specs() {
  std::vector<LayerSpec> specs;
  specs.push_back(LayerSpec{LayerKind::kConv2D, 8, 3, Activation::kRelu});
  specs.push_back(LayerSpec{LayerKind::kMaxPool, 0, 2});
  specs.push_back(LayerSpec{LayerKind::kFlatten});
  specs.push_back(LayerSpec{LayerKind::kDense, 10, 0, Activation::kSoftmax});
  return specs;
}

// Plain SGD, no augmentation, one epoch: the update is lr x the mean gradient.
Config sgd_config(double lr) {
  Config c;
  c.epochs = 1;
  c.progress = ProgressMode::kNone;
  c.threads = 1;
  c.augment = false;
  c.optimizer = OptimizerKind::kSgd;
  c.momentum = 0.0;
  c.lr = lr;
  c.precise_bn_images = 0;
  return c;
}

struct Trained {
  std::vector<float> params;
  TrainResult fit;
  double lr_scale;
  std::int64_t reductions, collectives;
};

// Trains `config` on `train` over `comm` with batch `batch` per rank.
Trained train_with(Config config, Communicator& comm, const MnistSet& train, int batch) {
  config.batch_size = batch;
  config.eval_batch_size = batch;
  Model model(small_specs(), kMnistInput, batch);
  model.initialize(config.seed);
  std::ostringstream log;
  CpuStepBackend backend(step_settings(config), comm, model);
  Trainer trainer(trainer_settings(config), comm, model, log, backend);
  trainer.broadcast_weights();
  Trained t;
  t.fit = trainer.fit(train, MnistSet{});
  t.params = model.params();
  t.lr_scale = trainer.lr_scale();
  t.reductions = backend.reducer().reductions();
  t.collectives = backend.reducer().collectives();
  return t;
}

// Largest |a - b| / max(1, |b|).
double worst_relative(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < b.size(); ++i)
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / std::max(1.0, std::fabs(double(b[i]))));
  return worst;
}

TEST(MpiLrScaling, LinearScalingIsTheLargeBatchStepAtTheScaledRate) {
  REQUIRE_MNIST(data);
  MpiCommunicator comm;
  const int world = comm.size();
  const int global_batch = world * ((24 + world - 1) / world);
  const MnistSet train = take_first(data->train, global_batch);  // one step: no padding
  Config scaled = sgd_config(0.05);
  scaled.lr_scaling = LrScaling::kLinear;
  scaled.warmup_epochs = 0;
  const Trained dist = train_with(scaled, comm, train, global_batch / world);
  Config warm = scaled;
  warm.warmup_epochs = 2;
  const Trained dist_warm = train_with(warm, comm, train, global_batch / world);

  SingleProcessCommunicator single;
  const Trained ref = train_with(sgd_config(0.05 * world), single, train, global_batch);
  const Trained ref_one_rank_rate = train_with(sgd_config(0.05), single, train, global_batch);
  const Trained initial = train_with(sgd_config(1e-30), single, train, global_batch);

  EXPECT_EQ(dist.lr_scale, world);
  EXPECT_EQ(ref.lr_scale, 1.0);
  EXPECT_LE(worst_relative(dist.params, ref.params), 1e-5) << "scaled: not the step at " << world << " x lr";
  // Warm-up: the first step (position 0) is at the one-rank rate.
  EXPECT_LE(worst_relative(dist_warm.params, ref_one_rank_rate.params), 1e-5);
  if (world > 1) {
    EXPECT_GT(worst_relative(ref.params, ref_one_rank_rate.params), 1e-4) << "the rates did not differ";
  }
  EXPECT_GT(worst_relative(ref.params, initial.params), 1e-3) << "the step is too small to prove anything";
  ASSERT_EQ(dist.fit.history.size(), 1u);
  ASSERT_EQ(dist_warm.fit.history.size(), 1u);
  EXPECT_DOUBLE_EQ(dist.fit.history[0].lr, 0.05 * world);
  EXPECT_DOUBLE_EQ(dist.fit.history[0].lr_target, 0.05 * world);
  EXPECT_DOUBLE_EQ(dist_warm.fit.history[0].lr, 0.05);  // in force at the (only) step
  EXPECT_DOUBLE_EQ(dist_warm.fit.history[0].lr_target, 0.05 * world);
}

// Over several steps of a warm-up epoch the rate in force at the last step is
// the ramp's value at that step's position, the same on any rank count.
TEST(MpiLrScaling, WarmupFollowsTheGlobalPosition) {
  REQUIRE_MNIST(data);
  MpiCommunicator comm;
  const int world = comm.size();
  const MnistSet train = take_first(data->train, 16 * 5 * world);  // five steps of 16 per rank
  Config c = sgd_config(0.01);
  c.lr_scaling = LrScaling::kSqrt;
  c.warmup_epochs = 2;
  const Trained t = train_with(c, comm, train, 16);
  const double s = std::sqrt(static_cast<double>(world));
  const double last_position = 4.0 / 5.0;  // before the fifth step, in epochs
  ASSERT_EQ(t.fit.history.size(), 1u);
  EXPECT_EQ(t.fit.steps, 5);
  EXPECT_DOUBLE_EQ(t.fit.history[0].lr_target, 0.01 * s);
  EXPECT_NEAR(t.fit.history[0].lr, 0.01 * s * (1 / s + (1 - 1 / s) * last_position / 2), 1e-15);
}

// One update of 12 images per rank as 3 micro-batches of 4 equals one batch
// of 12 x W in one process; with buckets (started after the last micro-batch)
// too.
TEST(MpiAccumulate, MicroBatchesEqualOneBatch) {
  REQUIRE_MNIST(data);
  MpiCommunicator comm;
  const int world = comm.size();
  const MnistSet train = take_first(data->train, 12 * world);
  Config c = sgd_config(0.1);
  c.accumulate = 3;
  const Trained acc = train_with(c, comm, train, 4);
  c.bucket_kb = 4;
  const Trained acc_buckets = train_with(c, comm, train, 4);
  SingleProcessCommunicator single;
  const Trained ref = train_with(sgd_config(0.1), single, train, 12 * world);
  const Trained initial = train_with(sgd_config(1e-30), single, train, 12 * world);

  EXPECT_LE(worst_relative(acc.params, ref.params), 1e-5);
  EXPECT_LE(worst_relative(acc_buckets.params, ref.params), 1e-5);
  EXPECT_GT(worst_relative(ref.params, initial.params), 1e-3) << "the step is too small to prove anything";
  EXPECT_EQ(acc.fit.steps, 1);
  ASSERT_EQ(acc.fit.history.size(), 1u);
  EXPECT_NEAR(acc.fit.history[0].loss, ref.fit.history[0].loss, 1e-5 * ref.fit.history[0].loss);
  EXPECT_EQ(acc.reductions, world > 1 ? 1 : 0);
  if (world > 1) {
    EXPECT_GT(acc_buckets.collectives, 1) << "buckets: more than one collective per reduction";
  }
}

// An epoch of 15 micro-batches per rank: 15 reductions without accumulation,
// 5 with --accumulate 3 (and as many times the buckets' collectives).
TEST(MpiAccumulate, ReductionsPerEpochDividedByK) {
  REQUIRE_MNIST(data);
  MpiCommunicator comm;
  const int world = comm.size();
  const MnistSet train = take_first(data->train, 60 * world);
  Config c = sgd_config(0.01);
  c.bucket_kb = 4;
  const Trained one = train_with(c, comm, train, 4);
  c.accumulate = 3;
  const Trained three = train_with(c, comm, train, 4);
  EXPECT_EQ(one.fit.steps, 15);
  EXPECT_EQ(three.fit.steps, 5);
  EXPECT_EQ(one.reductions, world > 1 ? 15 : 0);
  EXPECT_EQ(three.reductions, world > 1 ? 5 : 0);
  EXPECT_EQ(one.collectives, 3 * three.collectives);
}

// conv → BatchNorm → pool → conv → BatchNorm → dense: BatchNorm after a conv
// (per-channel statistics over n·h·w rows) with a layer before it (its dx is used).
std::vector<LayerSpec> batchnorm_specs() {
  std::vector<LayerSpec> specs;
  specs.push_back(LayerSpec{LayerKind::kConv2D, 6, 3, Activation::kRelu});
  specs.push_back(LayerSpec{LayerKind::kBatchNorm});
  specs.push_back(LayerSpec{LayerKind::kMaxPool, 0, 2});
  specs.push_back(LayerSpec{LayerKind::kConv2D, 8, 3, Activation::kRelu});
  specs.push_back(LayerSpec{LayerKind::kBatchNorm});
  specs.push_back(LayerSpec{LayerKind::kFlatten});
  specs.push_back(LayerSpec{LayerKind::kDense, 10, 0, Activation::kSoftmax});
  return specs;
}

struct OneStep {
  double loss;  // mean over the global batch
  std::vector<float> grads, params, state;
};

// The backend of a step: the CPU's, or with device >= 0 the GPU's on that device.
std::unique_ptr<StepBackend> make_backend(const Config& c, Communicator& comm, Model& model, int device) {
#if MNIST_DDP_HAVE_CUDA
  if (device >= 0) return std::make_unique<cuda::CudaStepBackend>(step_settings(c), comm, model, device);
#endif
  MNIST_ASSERT(device < 0, "no CUDA backend in this build");
  return std::make_unique<CpuStepBackend>(step_settings(c), comm, model);
}

// One SGD step of the samples `ids` over `comm` (their mean gradient over the ranks).
// On the GPU the gradients are read from the update, g = (p0 − p1) / lr (the first
// SGD step is p1 = p0 − lr·g with or without momentum).
OneStep one_step(Communicator& comm, const MnistSet& train, const std::vector<std::int64_t>& ids, bool sync_bn,
                 int global_batch, int device = -1) {
  constexpr double kLr = 0.1;
  Config c = sgd_config(kLr);
  c.batch_size = c.eval_batch_size = static_cast<int>(ids.size());
  c.sync_bn = sync_bn;
  Model model(batchnorm_specs(), kMnistInput, c.batch_size);
  model.initialize(c.seed);
  const std::vector<float> initial = model.params();
  const std::unique_ptr<StepBackend> backend = make_backend(c, comm, model, device);
  Optimizer optimizer(OptimizerHyper{OptimizerKind::kSgd, 0.9, 0.999, 0.9, 0.0}, model.params().size());
  backend->upload(model, &optimizer);
  backend->load_batch(train, ids, 0, false);
  backend->forward_backward(static_cast<int>(ids.size()), ForwardContext{true, c.seed, 0, ids.data(), 0});
  backend->reduce_gradients();
  double loss = backend->take_sums().loss;
  comm.allreduce_sum(&loss, 1);
  OneStep s{loss / global_batch, model.grads(), {}, {}};
  backend->optimizer_step(optimizer, kLr);
  backend->download(model, &optimizer);
  s.params = model.params();
  s.state = model.state();
  if (device >= 0)
    for (std::size_t i = 0; i < s.grads.size(); ++i) s.grads[i] = static_cast<float>((initial[i] - s.params[i]) / kLr);
  return s;
}

// Largest |got − want| over the largest |want| (many gradients are near zero), and where.
std::pair<double, std::size_t> worst_of_scale(const std::vector<float>& got, const std::vector<float>& want) {
  double worst = 0, scale = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double d = std::fabs(double(got[i]) - want[i]);
    if (d > worst) worst = d, at = i;
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  return {worst / scale, at};
}

struct SyncBnBounds {
  double loss, grads, params, state, control;
};

// One step on the world's ranks x global/world with --sync-bn, and without it, against one
// process taking the whole batch (on `device`: -1 the CPU, else the rank's GPU).
void expect_sync_bn_equivalence(Communicator& comm, const MnistSet& train, int global_batch, int device,
                                const SyncBnBounds& bound) {
  const int world = comm.size();
  std::vector<std::int64_t> mine, all;
  for (int i = 0; i < global_batch; ++i) {
    all.push_back(i);
    if (i % world == comm.rank()) mine.push_back(i);  // the sampler's interleaving
  }
  const OneStep synced = one_step(comm, train, mine, true, global_batch, device);
  const OneStep local = one_step(comm, train, mine, false, global_batch, device);
  SingleProcessCommunicator single;
  const OneStep ref = one_step(single, train, all, false, global_batch, device);
  const bool same_everywhere = identical_on_all_ranks(comm, synced.params.data(), synced.params.size());

  EXPECT_NEAR(synced.loss, ref.loss, bound.loss * ref.loss);
  const auto [worst, at] = worst_of_scale(synced.grads, ref.grads);
  EXPECT_LE(worst, bound.grads) << "gradient " << at << ": " << synced.grads[at] << " on " << world << " ranks, "
                                << ref.grads[at] << " in one process";
  EXPECT_LE(worst_relative(synced.params, ref.params), bound.params);
  EXPECT_LE(worst_relative(synced.state, ref.state), bound.state) << "moving statistics";
  EXPECT_TRUE(same_everywhere);
  if (world > 1) {  // the control: per-rank statistics are another step
    EXPECT_GT(worst_of_scale(local.grads, ref.grads).first, bound.control) << "without --sync-bn the step should differ";
  }
}

TEST(MpiSyncBn, StepOnNRanksEqualsOneRankWithTheWholeBatch) {
  REQUIRE_MNIST(data);
  MpiCommunicator comm;
  const int global_batch = comm.size() * ((24 + comm.size() - 1) / comm.size());
  expect_sync_bn_equivalence(comm, take_first(data->train, global_batch), global_batch, -1,
                             SyncBnBounds{1e-5, 1e-5, 1e-6, 1e-5, 1e-3});
}

// The GPU backend (own BatchNorm kernels, the sums over NCCL), one GPU per rank: node-local
// rank i on GPU i. Skipped on every rank unless every rank has its GPU (NCCL cannot put two
// ranks on one); scripts/gpu_check.sh runs it on 2 ranks where the machine has 2 GPUs.
// Bounds: float steps on both sides, but cuDNN's fused BatchNorm in the one-process step.
TEST(MpiSyncBn, CudaStepOnNRanksEqualsOneRankWithTheWholeBatch) {
  MpiCommunicator comm;
#if MNIST_DDP_HAVE_CUDA
  std::int64_t have_gpu = comm.local_rank() < cuda::probe_devices().gpu_count ? 1 : 0;
  comm.allreduce_sum(&have_gpu, 1);
  if (have_gpu < comm.size()) GTEST_SKIP() << "not every rank has a GPU of its own";
  const int global_batch = comm.size() * ((24 + comm.size() - 1) / comm.size());
  expect_sync_bn_equivalence(comm, test_support::synthetic_set(global_batch, 5), global_batch, comm.local_rank(),
                             SyncBnBounds{1e-4, 1e-4, 1e-5, 1e-4, 1e-3});
#else
  GTEST_SKIP() << "built without the CUDA backend";
#endif
}

}  // namespace
}  // namespace mnist_ddp

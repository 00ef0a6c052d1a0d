// test_cuda_training.cpp — whole training steps on the GPU backend against the CPU one.
//
// The same seed CNN, the same initial weights, the same batches (augmentation and
// dropout drawn from the same (seed, epoch, sample) on both sides) through
// CpuStepBackend and CudaStepBackend, then the losses, correct counts, weights,
// gradients, optimizer slots and BatchNorm statistics compared. The GPU computes
// in FP32 without TF32, so the two differ by summation order and cuDNN's
// algorithms only. Bounds (relative L2 error, ‖gpu − cpu‖ / ‖cpu‖):
//   loss sums 1e-3; gradients of one step 1e-3 (1e-2 per layer); weights after
//   4 SGD steps 1e-4, their momentum slots 1e-2; BatchNorm moving statistics
//   1e-3; evaluation loss 1e-3; correct counts within 1 per batch (a near-tie
//   may flip its arg-max).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "mnist_ddp/cli/step_settings.hpp"
#include "mnist_ddp/cuda/cuda_step_backend.hpp"
#include "mnist_ddp/data/sampler.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/nn/spec.hpp"
#include "mnist_ddp/cpu/cpu_step_backend.hpp"
#include "mnist_ddp/core/finite.hpp"
#include "require_gpu.hpp"
#include "support/mnist_data.hpp"

namespace mnist_ddp {
namespace {

double relative_l2(const std::vector<float>& gpu, const std::vector<float>& cpu) {
  EXPECT_EQ(gpu.size(), cpu.size());
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < cpu.size() && i < gpu.size(); ++i) {
    diff += (static_cast<double>(gpu[i]) - cpu[i]) * (static_cast<double>(gpu[i]) - cpu[i]);
    norm += static_cast<double>(cpu[i]) * cpu[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
}

// Random strokes on black, like digits only in their statistics; labels at random.
using test_support::synthetic_set;

struct Pair {
  Config config;
  SingleProcessCommunicator comm;
  Model cpu_model, gpu_model;
  OptimizerHyper hyper;
  Optimizer cpu_opt, gpu_opt;
  CpuStepBackend cpu;
  cuda::CudaStepBackend gpu;

  static Config make_config() {
    Config c;
    c.batch_size = 32;
    c.eval_batch_size = 64;
    c.seed = 11;
    c.optimizer = OptimizerKind::kSgd;
    return c;
  }
  static OptimizerHyper make_hyper() {
    OptimizerHyper h;
    h.kind = OptimizerKind::kSgd;
    h.momentum = 0.9;
    return h;
  }
  Pair()
      : config(make_config()),
        cpu_model(seed_cnn(), kMnistInput, 64),
        gpu_model(seed_cnn(), kMnistInput, 64),
        hyper(make_hyper()),
        cpu_opt(hyper, cpu_model.params().size()),
        gpu_opt(hyper, gpu_model.params().size()),
        cpu(step_settings(config), comm, cpu_model),
        gpu(step_settings(config), comm, gpu_model, 0) {
    cpu_model.initialize(config.seed);
    gpu_model.initialize(config.seed);
    gpu.upload(gpu_model, &gpu_opt);
  }

  void step(const MnistSet& set, const std::vector<std::int64_t>& ids, std::uint32_t epoch, double lr) {
    const int n = static_cast<int>(ids.size());
    for (StepBackend* b : {static_cast<StepBackend*>(&cpu), static_cast<StepBackend*>(&gpu)}) {
      Optimizer& opt = b == &cpu ? cpu_opt : gpu_opt;
      b->load_batch(set, ids, epoch, true);
      const ForwardContext ctx{true, config.seed, epoch, ids.data(), opt.iterations()};
      b->forward_backward(n, ctx);
      b->reduce_gradients();
      b->optimizer_step(opt, lr);
    }
  }
};

TEST(CudaTraining, FourStepsMatchTheCpuBackend) {
  MNIST_REQUIRE_GPU();
  Pair p;
  const MnistSet set = synthetic_set(256, 5);
  ShardSampler sampler(set.count, 1, 0, p.config.batch_size, p.config.seed);
  sampler.set_epoch(2);
  std::vector<std::int64_t> ids;
  for (int k = 0; k < 4; ++k) {
    sampler.batch(k, ids);
    p.step(set, ids, 2, 0.05);
  }
  const LossSums c = p.cpu.take_sums(), g = p.gpu.take_sums();
  EXPECT_GT(c.loss, 0.0);
  EXPECT_LE(std::abs(g.loss - c.loss) / c.loss, 1e-3) << "gpu " << g.loss << " cpu " << c.loss;
  EXPECT_LE(std::abs(g.correct - c.correct), 4) << "gpu " << g.correct << " cpu " << c.correct;
  EXPECT_EQ(p.gpu.take_sums().loss, 0.0);  // taken: the sums start again
  EXPECT_EQ(p.gpu_opt.iterations(), 4);

  p.gpu.download(p.gpu_model, &p.gpu_opt);
  EXPECT_LE(relative_l2(p.gpu_model.params(), p.cpu_model.params()), 1e-4);
  EXPECT_LE(relative_l2(p.gpu_opt.slots(), p.cpu_opt.slots()), 1e-2);
  EXPECT_LE(relative_l2(p.gpu_model.state(), p.cpu_model.state()), 1e-3);
  EXPECT_EQ(p.gpu_opt.iterations(), p.cpu_opt.iterations());
  EXPECT_TRUE(p.gpu.gradients_finite());
  EXPECT_TRUE(p.gpu.weights_finite());
}

TEST(CudaTraining, GradientsOfOneStepMatch) {
  MNIST_REQUIRE_GPU();
  Pair p;
  const MnistSet set = synthetic_set(64, 9);
  std::vector<std::int64_t> ids(32);
  for (int i = 0; i < 32; ++i) ids[i] = 2 * i + 1;
  // The first SGD step from zero momentum with lr 1 is p' = p - g: the gradients
  // come back through the weights, on both sides.
  const std::vector<float> initial = p.cpu_model.params();
  p.step(set, ids, 0, 1.0);
  p.gpu.download(p.gpu_model, &p.gpu_opt);
  std::vector<float> cpu_g(initial.size()), gpu_g(initial.size());
  for (std::size_t i = 0; i < initial.size(); ++i) {
    cpu_g[i] = initial[i] - p.cpu_model.params()[i];
    gpu_g[i] = initial[i] - p.gpu_model.params()[i];
  }
  EXPECT_LE(relative_l2(gpu_g, cpu_g), 1e-3);
  // Layer by layer too, so that a wrong layer is named (the last layers dominate the norm).
  for (std::size_t l = 0; l < p.cpu_model.layers().size(); ++l) {
    const std::size_t begin = p.cpu_model.param_offset(l);
    const std::size_t end =
        l + 1 < p.cpu_model.layers().size() ? p.cpu_model.param_offset(l + 1) : p.cpu_model.params().size();
    if (end == begin) continue;
    const std::vector<float> c(cpu_g.begin() + begin, cpu_g.begin() + end), g(gpu_g.begin() + begin, gpu_g.begin() + end);
    EXPECT_LE(relative_l2(g, c), 1e-2) << "layer " << l << " " << p.cpu_model.layers()[l]->name();
  }
}

TEST(CudaTraining, EvaluationAndBatchStatisticsMatch) {
  MNIST_REQUIRE_GPU();
  Pair p;
  const MnistSet set = synthetic_set(200, 13);
  // Precise BatchNorm's pass: training-mode statistics, no dropout, momentum 0.
  std::vector<std::int64_t> ids(64);
  for (int i = 0; i < 64; ++i) ids[i] = i;
  ForwardContext stats;
  stats.training = true;
  stats.dropout = false;
  stats.bn_momentum = 0.0f;
  stats.sample_ids = ids.data();
  for (StepBackend* b : {static_cast<StepBackend*>(&p.cpu), static_cast<StepBackend*>(&p.gpu)}) {
    b->load_batch(set, ids, 0, false);
    b->forward_statistics(64, stats);
  }
  p.gpu.download(p.gpu_model, nullptr);
  EXPECT_LE(relative_l2(p.gpu_model.state(), p.cpu_model.state()), 1e-3);

  // Inference over the set in batches of 64 (the last one short).
  ConfusionMatrix cc, gc;
  double cl = 0, gl = 0;
  for (std::int64_t b = 0; b < set.count; b += 64) {
    ids.clear();
    for (std::int64_t i = b; i < std::min<std::int64_t>(set.count, b + 64); ++i) ids.push_back(i);
    for (StepBackend* be : {static_cast<StepBackend*>(&p.cpu), static_cast<StepBackend*>(&p.gpu)}) {
      be->load_batch(set, ids, 0, false);
      be->evaluate_batch(static_cast<int>(ids.size()));
    }
  }
  cl = p.cpu.take_evaluation(cc);
  gl = p.gpu.take_evaluation(gc);
  EXPECT_EQ(gc.total(), set.count);
  EXPECT_EQ(cc.total(), set.count);
  EXPECT_LE(std::abs(gl - cl) / cl, 1e-3) << "gpu " << gl << " cpu " << cl;
  EXPECT_LE(std::abs(gc.correct() - cc.correct()), 2);
  ConfusionMatrix again;
  EXPECT_EQ(p.gpu.take_evaluation(again), 0.0);  // taken: the sums start again
  EXPECT_EQ(again.total(), 0);
}

TEST(CudaTraining, NonFiniteWeightsAreFound) {
  MNIST_REQUIRE_GPU();
  Pair p;
  EXPECT_TRUE(p.gpu.weights_finite());
  p.gpu_model.params()[12345] = std::nanf("");
  p.gpu.upload(p.gpu_model, nullptr);
  EXPECT_FALSE(p.gpu.weights_finite());
  p.gpu_model.params()[12345] = INFINITY;
  p.gpu.upload(p.gpu_model, nullptr);
  EXPECT_FALSE(p.gpu.weights_finite());
  p.gpu_model.params()[12345] = 0.5f;
  p.gpu.upload(p.gpu_model, nullptr);
  EXPECT_TRUE(p.gpu.weights_finite());
  EXPECT_FALSE(all_finite(std::vector<float>{1.0f, NAN}.data(), 2));
}

}  // namespace
}  // namespace mnist_ddp

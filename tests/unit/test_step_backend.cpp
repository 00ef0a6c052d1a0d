// test_step_backend.cpp — the trainer's side of the backend seam (train/step_backend.hpp),
// without a GPU.
//
// DeferredCpuBackend is the CPU backend with a GPU's sync points: it reports
// sync_interval() > 1 and checks that the trainer reads the sums and runs the
// finiteness checks only at sync points, and copies weights in and out only at
// its boundaries. Its arithmetic is the CPU backend's, so a run through it must
// end with bitwise the weights of the plain CPU run, the same history (the loss
// sums only grouped differently), and a stop signal between two sync points
// must leave the same state as on the CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <random>
#include <sstream>

#include "mnist_ddp/cli/trainer_settings.hpp"
#include "mnist_ddp/core/signals.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/cpu/cpu_step_backend.hpp"
#include "mnist_ddp/cli/step_settings.hpp"
#include "mnist_ddp/train/trainer.hpp"
#include "support/mnist_data.hpp"
#include "support/test_config.hpp"

namespace mnist_ddp {
namespace {

class DeferredCpuBackend final : public StepBackend {
 public:
  DeferredCpuBackend(const Config& config, Communicator& comm, Model& model, int interval, std::int64_t steps)
      : cpu_(step_settings(config), comm, model), interval_(interval), steps_per_epoch_(steps) {}

  const char* name() const override { return "deferred"; }
  void upload(const Model& m, const Optimizer* o) override {
    ++uploads;
    if (o != nullptr) ++optimizer_uploads;
    cpu_.upload(m, o);
  }
  void download(Model& m, Optimizer* o) override {
    ++downloads;
    cpu_.download(m, o);
  }
  void load_batch(const MnistSet& set, const std::vector<std::int64_t>& ids, std::uint32_t epoch,
                  bool augment) override {
    cpu_.load_batch(set, ids, epoch, augment);
  }
  using StepBackend::forward_backward;
  void forward_backward(int n, const ForwardContext& ctx, const MicroBatch& micro) override {
    if (micro.last) ++steps_;
    cpu_.forward_backward(n, ctx, micro);
  }
  void reduce_gradients() override { cpu_.reduce_gradients(); }
  void optimizer_step(Optimizer& o, double lr) override { cpu_.optimizer_step(o, lr); }
  int sync_interval() const override { return interval_; }
  LossSums take_sums() override {
    ++takes;
    if (!at_sync_point()) ++takes_between_sync_points;
    return cpu_.take_sums();
  }
  bool gradients_finite() override {
    ++checks;
    if (!at_sync_point()) ++checks_between_sync_points;
    return cpu_.gradients_finite();
  }
  bool weights_finite() override {
    ++checks;
    if (!at_sync_point()) ++checks_between_sync_points;
    return cpu_.weights_finite();
  }
  void forward_statistics(int n, const ForwardContext& ctx) override { cpu_.forward_statistics(n, ctx); }
  void evaluate_batch(int n) override { cpu_.evaluate_batch(n); }
  double take_evaluation(ConfusionMatrix& c) override { return cpu_.take_evaluation(c); }

  int uploads = 0, optimizer_uploads = 0, downloads = 0, takes = 0, checks = 0;
  int takes_between_sync_points = 0, checks_between_sync_points = 0;

 private:
  // The step just made (1-based within its epoch) is a sync point.
  bool at_sync_point() const {
    const std::int64_t in_epoch = (steps_ - 1) % steps_per_epoch_ + 1;
    return in_epoch % interval_ == 0 || in_epoch == steps_per_epoch_;
  }
  CpuStepBackend cpu_;
  int interval_;
  std::int64_t steps_per_epoch_;
  std::int64_t steps_ = 0;
};

// Random strokes on black with random labels: enough for the arithmetic to be real.
using test_support::synthetic_set;

Config small_config() {
  Config c = test_support::quiet_config(2, 16, 32);
  c.precise_bn_images = 32;
  return c;
}

constexpr std::int64_t kTrain = 112;  // 7 steps of 16: sync points at steps 3, 6 and 7 with interval 3

TEST(StepBackendSeam, SyncPointsEveryThreeStepsGiveTheCpuRun) {
  const Config config = small_config();
  const MnistSet train = synthetic_set(kTrain, 1), val = synthetic_set(32, 2);
  SingleProcessCommunicator comm;
  std::ostringstream log;

  Model plain_model(seed_cnn(), kMnistInput, 32);
  plain_model.initialize(config.seed);
  CpuStepBackend plain_backend(step_settings(config), comm, plain_model);
  Trainer plain(trainer_settings(config), comm, plain_model, log, plain_backend);
  const TrainResult a = plain.fit(train, val);

  Model model(seed_cnn(), kMnistInput, 32);
  model.initialize(config.seed);
  DeferredCpuBackend backend(config, comm, model, 3, 7);
  Trainer deferred(trainer_settings(config), comm, model, log, backend);
  const TrainResult b = deferred.fit(train, val);

  EXPECT_EQ(model.params(), plain_model.params());  // bitwise: the same arithmetic
  EXPECT_EQ(model.state(), plain_model.state());
  ASSERT_EQ(b.history.size(), a.history.size());
  for (std::size_t e = 0; e < a.history.size(); ++e) {
    EXPECT_NEAR(b.history[e].loss, a.history[e].loss, 1e-12 * a.history[e].loss);  // sums regrouped
    EXPECT_EQ(b.history[e].accuracy, a.history[e].accuracy);
    EXPECT_EQ(b.history[e].val_loss, a.history[e].val_loss);
  }
  EXPECT_EQ(b.steps, 14);
  EXPECT_EQ(backend.takes, 6);   // steps 3, 6, 7 of each epoch
  EXPECT_EQ(backend.checks, 12); // gradients and weights at each of them
  EXPECT_EQ(backend.takes_between_sync_points, 0);
  EXPECT_EQ(backend.checks_between_sync_points, 0);
  EXPECT_EQ(backend.optimizer_uploads, 1);  // fit's start
  EXPECT_EQ(backend.downloads, 2);          // each epoch's end
  EXPECT_EQ(backend.uploads, 3);            // fit's start, each validation
}

TEST(StepBackendSeam, StopBetweenSyncPointsLeavesTheCpuState) {
  Config config = small_config();
  config.precise_bn_images = 0;
  const MnistSet train = synthetic_set(kTrain, 3), val = synthetic_set(32, 4);
  SingleProcessCommunicator comm;
  std::ostringstream log;
  TrainingState states[2];
  std::vector<float> weights[2];
  for (int run = 0; run < 2; ++run) {
    Model model(seed_cnn(), kMnistInput, 32);
    model.initialize(config.seed);
    DeferredCpuBackend backend(config, comm, model, 5, 7);
    clear_stop_signal();
    const StopSignalHandlers handlers;
    ::setenv("MNIST_DDP_FAULT_AFTER_STEPS", "9", 1);  // SIGTERM after step 9: stop after epoch 2, step 3
    CpuStepBackend plain(step_settings(config), comm, model);
    Trainer trainer(trainer_settings(config), comm, model, log,
                    run == 0 ? static_cast<StepBackend&>(plain) : static_cast<StepBackend&>(backend));
    ::unsetenv("MNIST_DDP_FAULT_AFTER_STEPS");
    const TrainResult r = trainer.fit(train, val);
    clear_stop_signal();
    EXPECT_EQ(r.preempted.signal, SIGTERM);
    EXPECT_EQ(r.preempted.epoch, 2);
    EXPECT_EQ(r.preempted.step, 3);
    states[run] = trainer.state();
    weights[run] = model.params();
    if (run == 1) {
      EXPECT_EQ(backend.takes_between_sync_points, 1);  // the stop's own read, at step 3 of 7
      EXPECT_EQ(backend.downloads, 2);                  // epoch 1's end and the stop
    }
  }
  EXPECT_EQ(weights[1], weights[0]);
  EXPECT_EQ(states[1].epoch_steps_done, 3);
  EXPECT_EQ(states[1].epoch_steps_done, states[0].epoch_steps_done);
  EXPECT_EQ(states[1].epoch_correct, states[0].epoch_correct);
  EXPECT_EQ(states[1].epoch_seen, states[0].epoch_seen);
  EXPECT_NEAR(states[1].epoch_loss_sum, states[0].epoch_loss_sum, 1e-12 * states[0].epoch_loss_sum);
  EXPECT_EQ(states[1].optimizer_iterations, 10);
  EXPECT_EQ(states[1].optimizer_slots, states[0].optimizer_slots);
}

TEST(StepBackendSeam, CpuBackendSumsAndEvaluationStartAgainWhenTaken) {
  const Config config = small_config();
  const MnistSet set = synthetic_set(40, 5);
  SingleProcessCommunicator comm;
  Model model(seed_cnn(), kMnistInput, 32);
  model.initialize(config.seed);
  CpuStepBackend cpu(step_settings(config), comm, model);
  std::vector<std::int64_t> ids = {0, 1, 2, 3, 4, 5, 6, 7};
  cpu.load_batch(set, ids, 0, true);
  cpu.forward_backward(8, ForwardContext{true, config.seed, 0, ids.data(), 0});
  const LossSums s = cpu.take_sums();
  EXPECT_GT(s.loss, 0.0);
  EXPECT_EQ(cpu.take_sums().loss, 0.0);
  EXPECT_TRUE(cpu.gradients_finite());
  cpu.evaluate_batch(8);
  ConfusionMatrix c;
  EXPECT_GT(cpu.take_evaluation(c), 0.0);
  EXPECT_EQ(c.total(), 8);
  ConfusionMatrix again;
  EXPECT_EQ(cpu.take_evaluation(again), 0.0);
  EXPECT_EQ(again.total(), 0);
  model.params()[7] = NAN;
  EXPECT_FALSE(cpu.weights_finite());
  EXPECT_THROW(cpu.load_batch(set, std::vector<std::int64_t>(33, 0), 0, false), RuntimeError);  // > max batch
}

}  // namespace
}  // namespace mnist_ddp

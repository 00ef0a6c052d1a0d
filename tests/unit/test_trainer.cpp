// test_trainer.cpp — short end-to-end runs of the training loop on real MNIST
// (single process): the loss must fall, the callbacks must act, evaluation must
// count every image once. TrainerFaults: a stop signal in the middle of an
// epoch ends fit() after that step with the position in state(), and a run
// continued from that state ends bitwise where the run left alone ends; a
// non-finite loss (an absurd learning rate) is a NumericalFault that stops
// training before any epoch hook (checkpoint) sees the damage.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "mnist_ddp/cli/trainer_settings.hpp"
#include "mnist_ddp/core/signals.hpp"
#include "mnist_ddp/cpu/threads.hpp"
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/data/idx.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/cli/trainer_settings.hpp"
#include "mnist_ddp/cli/step_settings.hpp"
#include "mnist_ddp/cpu/cpu_step_backend.hpp"
#include "mnist_ddp/train/trainer.hpp"
#include "support/mnist_data.hpp"
#include "support/test_config.hpp"

namespace mnist_ddp {
namespace {

using test_support::real_mnist;

Config quick_config() { return test_support::quiet_config(2, 64, 250); }

// Counts the epoch ends that fit() reports: where a checkpoint policy would write.
struct EpochEndCounter final : TrainingObserver {
  int epochs = 0;
  void on_epoch_end(const EpochEnd&) override { ++epochs; }
};

TEST(TrainerEndToEnd, ShortRunReducesLossAndLearns) {
  REQUIRE_MNIST(data);
  set_cpu_threads(0);
  Config config = quick_config();
  const TrainValSplit split = split_validation(take_first(data->train, 2560), 0.1);
  const MnistSet test = take_first(data->test, 1000);
  SingleProcessCommunicator comm;
  Model model(seed_cnn(), kMnistInput, 250);
  model.initialize(config.seed);
  std::ostringstream log;
  CpuStepBackend backend(step_settings(config), comm, model);
  Trainer trainer(trainer_settings(config), comm, model, log, backend);

  const EvalResult before = trainer.evaluate(test);
  const TrainResult fit = trainer.fit(split.train, split.val);
  const EvalResult after = trainer.evaluate(test);

  ASSERT_EQ(fit.history.size(), 2u);
  EXPECT_LT(fit.history[1].loss, fit.history[0].loss);
  EXPECT_GT(fit.history[1].accuracy, 0.6);  // running mean, with augmentation and dropout
  EXPECT_EQ(before.count, 1000);
  EXPECT_EQ(after.count, 1000);
  EXPECT_LT(after.loss, 0.5 * before.loss) << "before " << before.loss << ", after " << after.loss;
  EXPECT_GT(after.accuracy, 0.85);
  EXPECT_GT(fit.train_images_per_second, 0.0);
}

TEST(TrainerEndToEnd, SameSeedSameWeights) {
  REQUIRE_MNIST(data);
  Config config = quick_config();
  config.epochs = 1;
  const TrainValSplit split = split_validation(take_first(data->train, 640), 0.1);
  std::vector<float> first;
  for (int run = 0; run < 2; ++run) {
    SingleProcessCommunicator comm;
    Model model(seed_cnn(), kMnistInput, 250);
    model.initialize(config.seed);
    std::ostringstream log;
    CpuStepBackend backend(step_settings(config), comm, model);
    Trainer trainer(trainer_settings(config), comm, model, log, backend);
    trainer.fit(split.train, split.val);
    if (run == 0) {
      first = model.params();
    }
    else {
      EXPECT_EQ(first, model.params()) << "training is not deterministic for a fixed seed and thread count";
    }
  }
}

TEST(TrainerEndToEnd, EarlyStoppingRestoresBestWeights) {
  REQUIRE_MNIST(data);
  // With patience 0 training stops after the first epoch that does not
  // improve val_loss, and the best epoch's weights come back.
  Config config = quick_config();
  config.epochs = 6;
  config.early_stopping.patience = 0;
  const TrainValSplit split = split_validation(take_first(data->train, 640), 0.25);
  SingleProcessCommunicator comm;
  Model model(seed_cnn(), kMnistInput, 250);
  model.initialize(config.seed);
  std::ostringstream log;
  CpuStepBackend backend(step_settings(config), comm, model);
  Trainer trainer(trainer_settings(config), comm, model, log, backend);
  const TrainResult fit = trainer.fit(split.train, split.val);
  ASSERT_GE(fit.best_epoch, 1);
  // The best epoch is the one with the lowest val_loss, and the final weights
  // (restored or not) score exactly that val_loss again.
  int best = 0;
  for (std::size_t e = 1; e < fit.history.size(); ++e)
    if (fit.history[e].val_loss < fit.history[best].val_loss) best = static_cast<int>(e);
  EXPECT_EQ(fit.best_epoch, best + 1);
  EXPECT_EQ(fit.restored_best, fit.best_epoch != static_cast<int>(fit.history.size()));
  if (fit.stopped_early) {
    EXPECT_EQ(static_cast<int>(fit.history.size()), fit.best_epoch + 1);  // patience 0
  }
  const EvalResult v = trainer.evaluate(split.val);
  EXPECT_NEAR(v.loss, fit.history[best].val_loss, 1e-9);
}

TEST(TrainerFaults, StopSignalInsideAnEpochResumesBitwise) {
  REQUIRE_MNIST(data);
  set_cpu_threads(1);
  Config config = quick_config();
  config.batch_size = 32;
  config.precise_bn_images = 0;  // the moving statistics then carry over from every step
  const TrainValSplit split = split_validation(take_first(data->train, 320), 0.1);  // 288: 9 steps
  auto fresh_model = [&] {
    auto m = std::make_unique<Model>(seed_cnn(), kMnistInput, 250);
    m->initialize(config.seed);
    return m;
  };

  // Left alone.
  auto whole = fresh_model();
  std::ostringstream log;
  SingleProcessCommunicator comm;
  CpuStepBackend left_alone_backend(step_settings(config), comm, *whole);
  Trainer left_alone(trainer_settings(config), comm, *whole, log, left_alone_backend);
  const TrainResult reference = left_alone.fit(split.train, split.val);
  ASSERT_EQ(reference.preempted.signal, 0);

  // SIGTERM raised after the 12th step (epoch 2, step 3): fit() stops after step 4.
  clear_stop_signal();
  auto cut = fresh_model();
  TrainingState stopped;
  {
    const StopSignalHandlers handlers;
    ::setenv("MNIST_DDP_FAULT_AFTER_STEPS", "12", 1);
    CpuStepBackend backend(step_settings(config), comm, *cut);
    Trainer trainer(trainer_settings(config), comm, *cut, log, backend);
    ::unsetenv("MNIST_DDP_FAULT_AFTER_STEPS");
    EpochEndCounter hooks;
    const TrainResult r = trainer.fit(split.train, split.val, {&hooks});
    EXPECT_EQ(r.preempted.signal, SIGTERM);
    EXPECT_EQ(r.preempted.ranks, 1);
    EXPECT_EQ(r.preempted.epoch, 2);
    EXPECT_EQ(r.preempted.step, 4);
    EXPECT_EQ(r.preempted.steps, 9);
    EXPECT_EQ(hooks.epochs, 1);  // epoch 1 only
    stopped = trainer.state();
    clear_stop_signal();
  }
  EXPECT_EQ(stopped.epochs_done, 1);
  EXPECT_EQ(stopped.epoch_steps_done, 4);
  EXPECT_EQ(stopped.epoch_seen, 4 * 32);
  EXPECT_EQ(stopped.optimizer_iterations, 13);
  EXPECT_TRUE(stopped.rank_states.empty());  // one rank: the model's own state is it
  ASSERT_EQ(stopped.history.size(), 1u);

  // Continued in a new process's place: a model given the saved weights.
  auto resumed = fresh_model();
  resumed->params() = cut->params();
  resumed->state() = cut->state();
  CpuStepBackend backend(step_settings(config), comm, *resumed);
  Trainer trainer(trainer_settings(config), comm, *resumed, log, backend);
  trainer.restore(stopped);
  const TrainResult r = trainer.fit(split.train, split.val);
  EXPECT_EQ(r.preempted.signal, 0);
  EXPECT_EQ(r.steps, 9 - 4);
  EXPECT_TRUE(resumed->params() == whole->params()) << "resumed weights differ from the run left alone";
  EXPECT_TRUE(resumed->state() == whole->state()) << "resumed BatchNorm statistics differ";
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_NEAR(r.history[1].loss, reference.history[1].loss, 1e-12);
  EXPECT_EQ(r.history[1].accuracy, reference.history[1].accuracy);
  EXPECT_EQ(r.history[1].val_loss, reference.history[1].val_loss);
}

TEST(TrainerFaults, NonFiniteLossStopsBeforeAnyCheckpoint) {
  REQUIRE_MNIST(data);
  Config config = quick_config();
  config.epochs = 1;
  config.lr = 1e30;
  const TrainValSplit split = split_validation(take_first(data->train, 640), 0.1);
  SingleProcessCommunicator comm;
  Model model(seed_cnn(), kMnistInput, 250);
  model.initialize(config.seed);
  std::ostringstream log;
  CpuStepBackend backend(step_settings(config), comm, model);
  Trainer trainer(trainer_settings(config), comm, model, log, backend);
  EpochEndCounter hooks;
  try {
    trainer.fit(split.train, split.val, {&hooks});
    ADD_FAILURE() << "--lr 1e30 trained without a NumericalFault";
  } catch (const NumericalFault& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("non-finite"), std::string::npos) << what;
    EXPECT_NE(what.find("at epoch 1 step "), std::string::npos) << what;
    EXPECT_NE(what.find("learning rate 1e+30 too large?"), std::string::npos) << what;
  }
  EXPECT_EQ(hooks.epochs, 0);
}

}  // namespace
}  // namespace mnist_ddp

// test_faults.cpp — faults under real MPI, and the communicator's watchdog.
//
// MpiFaults: a stop signal received by ONE rank (the last) ends fit() after
// the same step on every rank, every rank reports it, and state() carries
// every rank's BatchNorm moving statistics (they differ inside an epoch); a
// non-finite loss is a NumericalFault on every rank at the same step (so the
// job can end without MPI_Abort). These are collective like the rest of the
// suite: EXPECTs only, after the collectives.
// CommWatchdog (no MPI needed, run on every rank): the watchdog fires, with its
// message, only for one collective that outlasts the timeout; time spent
// outside collectives and many short collectives never trip it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mnist_ddp/cli/trainer_settings.hpp"
#include "mnist_ddp/core/signals.hpp"
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/data/idx.hpp"
#include "mnist_ddp/dist/comm_watchdog.hpp"
#include "mnist_ddp/dist/mpi_communicator.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/spec.hpp"
#include "mnist_ddp/cli/trainer_settings.hpp"
#include "mnist_ddp/cli/step_settings.hpp"
#include "mnist_ddp/cpu/cpu_step_backend.hpp"
#include "mnist_ddp/train/trainer.hpp"
#include "support/mnist_data.hpp"
#include "support/test_config.hpp"

namespace mnist_ddp {
namespace {

using test_support::real_mnist;

Config fault_config() {
  Config c = test_support::quiet_config(1, 8, 100);
  c.threads = 1;
  c.precise_bn_images = 0;
  return c;
}

TEST(MpiFaults, SignalOnOneRankStopsEveryRankAtTheSameStep) {
  REQUIRE_MNIST(data);
  MpiCommunicator comm;
  const Config config = fault_config();
  const TrainValSplit split = split_validation(take_first(data->train, 7 * 8 * 6), 0.0);  // 6 to 42 steps
  Model model(seed_cnn(), kMnistInput, 100);
  model.initialize(config.seed);
  std::ostringstream log;
  clear_stop_signal();
  TrainResult r;
  TrainingState s;
  {
    const StopSignalHandlers handlers;
    const std::string last = std::to_string(comm.size() - 1);
    ::setenv("MNIST_DDP_FAULT_AFTER_STEPS", "2", 1);
    ::setenv("MNIST_DDP_FAULT_RANK", last.c_str(), 1);
    ::setenv("MNIST_DDP_FAULT_SIGNAL", "USR1", 1);
    CpuStepBackend trainer_backend(step_settings(config), comm, model);
    Trainer trainer(trainer_settings(config), comm, model, log, trainer_backend);
    ::unsetenv("MNIST_DDP_FAULT_AFTER_STEPS");
    ::unsetenv("MNIST_DDP_FAULT_RANK");
    ::unsetenv("MNIST_DDP_FAULT_SIGNAL");
    trainer.broadcast_weights();
    r = trainer.fit(split.train, split.val);
    s = trainer.state();
    clear_stop_signal();
  }
  // The signal came after step 2 on the last rank: all stop after step 3.
  EXPECT_EQ(r.preempted.signal, SIGUSR1);
  EXPECT_EQ(r.preempted.ranks, 1);
  EXPECT_EQ(r.preempted.epoch, 1);
  EXPECT_EQ(r.preempted.step, 3);
  EXPECT_EQ(s.epoch_steps_done, 3);
  EXPECT_EQ(s.epoch_seen, 3 * 8 * comm.size());  // summed over the ranks
  EXPECT_EQ(s.optimizer_iterations, 3);
  const std::size_t n = model.state().size();
  if (comm.size() == 1) {
    EXPECT_TRUE(s.rank_states.empty());
  } else {
    ASSERT_EQ(s.rank_states.size(), n * comm.size());
    const std::vector<float> mine(s.rank_states.begin() + n * comm.rank(), s.rank_states.begin() + n * (comm.rank() + 1));
    EXPECT_TRUE(mine == model.state()) << "rank " << comm.rank() << "'s slot is not its own statistics";
  }
}

TEST(MpiFaults, NonFiniteLossIsANumericalFaultOnEveryRank) {
  REQUIRE_MNIST(data);
  MpiCommunicator comm;
  Config config = fault_config();
  config.lr = 1e30;
  const TrainValSplit split = split_validation(take_first(data->train, 7 * 8 * 6), 0.0);
  Model model(seed_cnn(), kMnistInput, 100);
  model.initialize(config.seed);
  std::ostringstream log;
  CpuStepBackend trainer_backend(step_settings(config), comm, model);
  Trainer trainer(trainer_settings(config), comm, model, log, trainer_backend);
  trainer.broadcast_weights();
  std::string what;
  try {
    trainer.fit(split.train, split.val);
  } catch (const NumericalFault& e) {
    what = e.what();
  }
  // Every rank threw, and at the same step: the messages are identical.
  const std::size_t at = what.find(" step ");
  const double step = at == std::string::npos ? -1.0 : std::atof(what.c_str() + at + 6);
  const std::vector<double> steps = all_gather(comm, step);
  EXPECT_NE(what.find("non-finite"), std::string::npos) << what;
  for (double v : steps) EXPECT_EQ(v, steps[0]);
  EXPECT_GE(steps[0], 1.0);
}

TEST(CommWatchdog, FiresOnlyForACollectiveThatOutlastsTheTimeout) {
  using namespace std::chrono_literals;
  std::atomic<int> fired{0};
  ::testing::internal::CaptureStderr();
  {
    CommWatchdog watchdog(5, 1.0, [&] { ++fired; });
    std::this_thread::sleep_for(2000ms);  // computing, outside any collective
    for (int i = 0; i < 15; ++i) {       // short collectives, 1.5 s in total
      const CommWatchdog::Scope scope(&watchdog, "MPI_Allreduce");
      std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(fired, 0);
    const CommWatchdog::Scope stuck(&watchdog, "MPI_Barrier");
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (fired == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(watchdog.expired());
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(fired, 1);
  EXPECT_NE(err.find("rank 5: no progress in a collective for 1 s (a rank died or hangs?)"), std::string::npos)
      << err;
  EXPECT_NE(err.find("MPI_Barrier"), std::string::npos) << err;
}

}  // namespace
}  // namespace mnist_ddp

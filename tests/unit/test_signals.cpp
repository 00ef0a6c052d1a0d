// test_signals.cpp — the stop-signal handlers (core/signals.hpp) and the
// MNIST_DDP_FAULT_* test hooks (core/fault_injection.hpp).
//
// StopSignals: a handled signal is only recorded (the first one wins), the
// previous dispositions come back afterwards, and a second SIGINT ends the
// process as Ctrl-C would. StepFault: the environment is parsed strictly, and
// the signal is raised on the named rank after exactly the named step.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <string>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/core/fault_injection.hpp"
#include "mnist_ddp/core/signals.hpp"

namespace mnist_ddp {
namespace {

// Sets environment variables for one test and removes them afterwards.
class ScopedEnv {
 public:
  ScopedEnv& set(const char* name, const char* value) {
    ::setenv(name, value, 1);
    names_.push_back(name);
    return *this;
  }
  ~ScopedEnv() {
    for (const char* n : names_) ::unsetenv(n);
  }

 private:
  std::vector<const char*> names_;
};

TEST(StopSignals, HandlersOnlyRecordTheFirstSignal) {
  clear_stop_signal();
  {
    const StopSignalHandlers handlers;
    EXPECT_EQ(stop_signal_received(), 0);
    std::raise(SIGUSR1);  // would end the process without the handler
    EXPECT_EQ(stop_signal_received(), SIGUSR1);
    std::raise(SIGTERM);  // a repeated or other signal: still the first
    EXPECT_EQ(stop_signal_received(), SIGUSR1);
    clear_stop_signal();
    std::raise(SIGTERM);
    EXPECT_EQ(stop_signal_received(), SIGTERM);
  }
  clear_stop_signal();
}

TEST(StopSignals, PreviousDispositionsComeBack) {
  struct sigaction ignore {}, before {}, after {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ASSERT_EQ(::sigaction(SIGUSR1, &ignore, &before), 0);
  {
    const StopSignalHandlers handlers;
    struct sigaction during {};
    ::sigaction(SIGUSR1, nullptr, &during);
    EXPECT_NE(during.sa_handler, SIG_IGN);
    EXPECT_THROW(StopSignalHandlers{}, RuntimeError);  // one at a time
  }
  ::sigaction(SIGUSR1, nullptr, &after);
  EXPECT_EQ(after.sa_handler, SIG_IGN);
  ::sigaction(SIGUSR1, &before, nullptr);
  clear_stop_signal();
}

TEST(StopSignalsDeathTest, SecondSigintEndsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        const StopSignalHandlers handlers;
        std::raise(SIGINT);  // recorded
        std::raise(SIGINT);  // Ctrl-C again: default action
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGINT), "");
}

TEST(StopSignals, Names) {
  EXPECT_STREQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_STREQ(signal_name(SIGINT), "SIGINT");
  EXPECT_STREQ(signal_name(SIGUSR1), "SIGUSR1");
}

TEST(StepFault, InertWithoutEnvironment) {
  ::unsetenv("MNIST_DDP_FAULT_AFTER_STEPS");
  const StepFault f = StepFault::from_environment();
  EXPECT_EQ(f.after_steps, -1);
  f.after_step(0, 0);  // nothing happens
}

TEST(StepFault, ParsesTheEnvironmentStrictly) {
  {
    ScopedEnv env;
    env.set("MNIST_DDP_FAULT_AFTER_STEPS", "12").set("MNIST_DDP_FAULT_RANK", "3").set("MNIST_DDP_FAULT_SIGNAL", "USR1");
    const StepFault f = StepFault::from_environment();
    EXPECT_EQ(f.after_steps, 12);
    EXPECT_EQ(f.rank, 3);
    EXPECT_EQ(f.signal, SIGUSR1);
  }
  {
    ScopedEnv env;
    env.set("MNIST_DDP_FAULT_AFTER_STEPS", "5");
    const StepFault f = StepFault::from_environment();
    EXPECT_EQ(f.rank, 0);
    EXPECT_EQ(f.signal, SIGTERM);
  }
  for (const char* bad : {"", "x", "-1", "3s"}) {
    ScopedEnv env;
    env.set("MNIST_DDP_FAULT_AFTER_STEPS", bad);
    EXPECT_THROW(StepFault::from_environment(), UsageError) << bad;
  }
  ScopedEnv env;
  env.set("MNIST_DDP_FAULT_AFTER_STEPS", "1").set("MNIST_DDP_FAULT_SIGNAL", "HUP");
  EXPECT_THROW(StepFault::from_environment(), UsageError);
}

TEST(StepFault, RaisesOnTheNamedRankAfterTheNamedStep) {
  clear_stop_signal();
  const StopSignalHandlers handlers;
  StepFault f;
  f.after_steps = 7;
  f.rank = 1;
  f.signal = SIGTERM;
  f.after_step(7, 0);  // another rank
  f.after_step(6, 1);  // not yet
  f.after_step(8, 1);  // past it (a resumed run)
  EXPECT_EQ(stop_signal_received(), 0);
  f.after_step(7, 1);
  EXPECT_EQ(stop_signal_received(), SIGTERM);
  clear_stop_signal();
}

}  // namespace
}  // namespace mnist_ddp

// signals.cpp — stop-signal handlers that only record the signal.
#include "mnist_ddp/core/signals.hpp"

#include <atomic>
#include <csignal>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

namespace {

constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGUSR1};

// Lock-free, so storing to it from a signal handler is async-signal-safe.
std::atomic<int> g_received{0};
static_assert(std::atomic<int>::is_always_lock_free, "a signal handler needs a lock-free flag");

struct sigaction g_previous[sizeof kStopSignals / sizeof kStopSignals[0]];
std::atomic<bool> g_installed{false};

extern "C" void on_stop_signal(int signal) {
  int none = 0;
  if (g_received.compare_exchange_strong(none, signal)) return;  // the first one: remembered
  if (signal == SIGINT) {
    // Ctrl-C twice: the user does not want to wait for the checkpoint.
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
}

}  // namespace

StopSignalHandlers::StopSignalHandlers() {
  MNIST_ASSERT(!g_installed.exchange(true), "stop-signal handlers installed twice");
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESTART: a signal must not turn a blocking read or write into an error.
  action.sa_flags = SA_RESTART;
  for (std::size_t i = 0; i < sizeof kStopSignals / sizeof kStopSignals[0]; ++i)
    MNIST_CHECK(::sigaction(kStopSignals[i], &action, &g_previous[i]) == 0, RuntimeError,
                "cannot install a handler for " << signal_name(kStopSignals[i]));
}

StopSignalHandlers::~StopSignalHandlers() {
  for (std::size_t i = 0; i < sizeof kStopSignals / sizeof kStopSignals[0]; ++i)
    ::sigaction(kStopSignals[i], &g_previous[i], nullptr);
  g_installed = false;
}

int stop_signal_received() { return g_received.load(); }

void clear_stop_signal() { g_received = 0; }

const char* signal_name(int signal) {
  switch (signal) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGKILL: return "SIGKILL";
    case SIGSTOP: return "SIGSTOP";
    case SIGHUP: return "SIGHUP";
    default: return "another signal";
  }
}

}  // namespace mnist_ddp

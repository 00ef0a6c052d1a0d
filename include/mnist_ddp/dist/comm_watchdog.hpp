// comm_watchdog.hpp — a dead or hung rank must not hang the others forever.
//
// When a rank is killed, mpirun usually tears the job down; but a rank that
// hangs without dying (stopped, swapped out, stuck in a driver) or a launcher
// that does not notice a death (srun without --kill-on-bad-exit) leaves every
// other rank blocked in its next collective. The communicator marks each
// blocking collective with a Scope; a thread wakes a few times per timeout and,
// when one collective has been in progress for `timeout` seconds, prints
//   "mnist_ddp: rank R: no progress in a collective for T s (a rank died or hangs?)"
// and calls the expiry action, which ends the process (MPI_Abort, or _exit).
// Time spent computing between collectives never counts: only time waiting.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace mnist_ddp {

class CommWatchdog {
 public:
  // Called on the watchdog thread after the message is printed; meant to end
  // the process. If it returns (tests), the watchdog stops watching.
  using Expiry = std::function<void()>;

  CommWatchdog(int rank, double timeout_seconds, Expiry expire);
  ~CommWatchdog();
  CommWatchdog(const CommWatchdog&) = delete;
  CommWatchdog& operator=(const CommWatchdog&) = delete;

  // One blocking collective in progress, from construction to destruction.
  // Scopes do not nest (the communicator opens one per call).
  class Scope {
   public:
    Scope(CommWatchdog* watchdog, const char* collective);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    CommWatchdog* watchdog_;
  };

  double timeout_seconds() const { return timeout_; }
  // True once the expiry action has been called.
  bool expired() const { return expired_; }

 private:
  void run();

  const int rank_;
  const double timeout_;
  Expiry expire_;
  std::atomic<std::int64_t> since_ns_{0};           // start of the collective in progress; 0: none
  std::atomic<const char*> collective_{nullptr};    // its name (a string literal)
  std::atomic<bool> expired_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mnist_ddp

// comm_watchdog.cpp — the thread that watches for collectives that never end.
#include "mnist_ddp/dist/comm_watchdog.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  // +1: a collective that starts exactly at the clock's epoch must not read as "none".
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count() + 1;
}

}  // namespace

CommWatchdog::CommWatchdog(int rank, double timeout_seconds, Expiry expire)
    : rank_(rank), timeout_(timeout_seconds), expire_(std::move(expire)) {
  MNIST_ASSERT(timeout_seconds > 0, "watchdog timeout " << timeout_seconds);
  thread_ = std::thread([this] { run(); });
}

CommWatchdog::~CommWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

CommWatchdog::Scope::Scope(CommWatchdog* watchdog, const char* collective) : watchdog_(watchdog) {
  if (watchdog_ == nullptr) return;
  watchdog_->collective_ = collective;
  watchdog_->since_ns_ = now_ns();
}

CommWatchdog::Scope::~Scope() {
  if (watchdog_ != nullptr) watchdog_->since_ns_ = 0;
}

void CommWatchdog::run() {
  // Look a few times per timeout: the overshoot is at most a tenth of it (and
  // never more than a second), at a cost of a wake-up now and then.
  const auto poll = std::chrono::duration<double>(std::clamp(timeout_ / 10.0, 0.01, 1.0));
  const auto limit_ns = static_cast<std::int64_t>(timeout_ * 1e9);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, poll);
    if (stopping_) break;
    const std::int64_t since = since_ns_;
    if (since == 0 || now_ns() - since < limit_ns) continue;
    const char* what = collective_;
    std::fprintf(stderr,
                 "mnist_ddp: rank %d: no progress in a collective for %g s (a rank died or hangs?) — "
                 "%s did not complete; ending the job (--comm-timeout)\n",
                 rank_, timeout_, what != nullptr ? what : "a collective");
    std::fflush(stderr);
    expired_ = true;
    lock.unlock();
    expire_();
    return;  // the expiry action returned (tests): stop watching
  }
}

}  // namespace mnist_ddp

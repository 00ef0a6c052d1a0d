// fault_injection.cpp — the MNIST_DDP_FAULT_* test hooks.
#include "mnist_ddp/core/fault_injection.hpp"

#include <csignal>
#include <cstdlib>
#include <cstring>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

namespace {

int signal_from_name(const std::string& name) {
  const std::string n = name.rfind("SIG", 0) == 0 ? name.substr(3) : name;
  if (n == "TERM") return SIGTERM;
  if (n == "INT") return SIGINT;
  if (n == "USR1") return SIGUSR1;
  if (n == "KILL") return SIGKILL;
  if (n == "STOP") return SIGSTOP;
  throw UsageError("MNIST_DDP_FAULT_SIGNAL: unknown signal '" + name + "' (TERM, INT, USR1, KILL or STOP)");
}

std::int64_t integer_from_env(const char* name, const char* text) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (*text == '\0' || *end != '\0' || v < 0)
    throw UsageError(std::string(name) + ": expected a non-negative integer, got '" + text + "'");
  return v;
}

}  // namespace

StepFault StepFault::from_environment() {
  StepFault f;
  const char* steps = std::getenv("MNIST_DDP_FAULT_AFTER_STEPS");
  if (steps == nullptr) return f;
  f.after_steps = integer_from_env("MNIST_DDP_FAULT_AFTER_STEPS", steps);
  if (const char* r = std::getenv("MNIST_DDP_FAULT_RANK"))
    f.rank = static_cast<int>(integer_from_env("MNIST_DDP_FAULT_RANK", r));
  const char* s = std::getenv("MNIST_DDP_FAULT_SIGNAL");
  f.signal = signal_from_name(s != nullptr ? s : "TERM");
  return f;
}

void StepFault::after_step(std::int64_t optimizer_steps, int this_rank) const {
  if (after_steps >= 0 && optimizer_steps == after_steps && this_rank == rank) std::raise(signal);
}

void fault_point_before_rename(const std::string& final_path) {
  const char* text = std::getenv("MNIST_DDP_FAULT_KILL_BEFORE_RENAME");
  if (text != nullptr && *text != '\0' && final_path.find(text) != std::string::npos) std::raise(SIGKILL);
}

}  // namespace mnist_ddp

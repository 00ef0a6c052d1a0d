// optimizer.hpp — Adam, RMSprop and SGD with momentum over the flat parameter buffer.
//
// The update arithmetic is in optimizer_math.hpp (shared with CUDA); this class
// holds the slots (moments) and the step count, which a checkpoint saves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <vector>

#include "mnist_ddp/core/enum_name.hpp"

namespace mnist_ddp {

enum class OptimizerKind { kAdam, kRmsprop, kSgd };

// "adam", "rmsprop", "sgd": the names of --optimizer, the report and the checkpoint.
inline const char* to_string(OptimizerKind o) {
  return enum_name(o, {"adam", "rmsprop", "sgd"});  // in the enum's order
}

struct OptimizerHyper {
  OptimizerKind kind = OptimizerKind::kAdam;
  double beta1 = 0.9, beta2 = 0.999;   // Adam
  double rho = 0.9;                    // RMSprop
  double momentum = 0.9;               // SGD
  double epsilon = 1e-7;
};

// Slot values per parameter (what a checkpoint stores): Adam keeps two moments,
// RMSprop and SGD with momentum one.
inline std::size_t optimizer_slots_per_parameter(OptimizerKind kind) { return kind == OptimizerKind::kAdam ? 2 : 1; }

class Optimizer {
 public:
  Optimizer(const OptimizerHyper& hyper, std::size_t count);
  // One update of params from grads with learning rate lr (CPU, threaded).
  void step(float* params, const float* grads, double lr);

  const OptimizerHyper& hyper() const { return hyper_; }
  std::int64_t iterations() const { return iterations_; }
  void set_iterations(std::int64_t t) { iterations_ = t; }
  // All slot values (first then second moment where the method has them).
  std::vector<float>& slots() { return slots_; }
  const std::vector<float>& slots() const { return slots_; }

 private:
  OptimizerHyper hyper_;
  std::size_t count_;
  std::int64_t iterations_ = 0;
  std::vector<float> slots_;
};

}  // namespace mnist_ddp

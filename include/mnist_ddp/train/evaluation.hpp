// evaluation.hpp — sharded evaluation of a model: each rank runs inference on
// its contiguous share of a set on a step backend, and the loss sums and
// confusion matrices are added up over the ranks, so the result does not
// depend on the world size (up to the order of floating-point sums).
//
// It needs no Trainer: `evaluate` evaluates a loaded model file with it, and
// the Trainer its validation set and `train` the test set at the end.
#pragma once

#include <cstdint>

#include "mnist_ddp/data/idx.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/train/metrics.hpp"
#include "mnist_ddp/train/step_backend.hpp"

namespace mnist_ddp {

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
  std::int64_t count = 0;
  ConfusionMatrix confusion;
};

// Collective: uploads the host weights of `model` to `backend`, evaluates this
// rank's shard of `set` in batches of at most `batch_size` (inference mode) and
// reduces the result over `comm`. The backend must hold batches of batch_size.
EvalResult evaluate_sharded(const Model& model, StepBackend& backend, Communicator& comm, const MnistSet& set,
                            int batch_size);

}  // namespace mnist_ddp

// decision.hpp — rank 0 decides, every rank applies.
//
// After each epoch only rank 0 runs the callbacks, on the validation metrics
// that all ranks reduced together; its Decision is broadcast, so every rank
// changes its learning rate and stops at exactly the same epoch. The other
// ranks' callbacks objects are never consulted.
#pragma once

#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/train/callbacks.hpp"

namespace mnist_ddp {

// Collective: every rank calls it after the same epoch. `val_loss` is only read
// on rank 0.
Decision decide_on_root(Communicator& comm, EpochCallbacks& callbacks, int epoch, double val_loss, double lr);

// Collective: true when every rank holds bitwise the same `count` floats
// (compares a 64-bit hash of them across ranks).
bool identical_on_all_ranks(Communicator& comm, const float* data, std::size_t count);

}  // namespace mnist_ddp

// gradient_transport.hpp — what the gradient reducer needs from a process group.
//
// The reducer (train/gradient_reducer.hpp) decides WHEN a slice of the flat
// gradient buffer is reduced: the bucket plan and the launch order. A transport
// decides HOW: MPI over host memory (dist/host_gradient_transport.hpp) or NCCL
// over device memory (cuda/nccl_gradient_transport.hpp), as PyTorch's Reducer
// calls a ProcessGroup. Every rank calls the same methods in the same order.
#pragma once

#include <cstddef>

namespace mnist_ddp {

class GradientTransport {
 public:
  virtual ~GradientTransport() = default;
  // Starts the reduction of one bucket's gradients and returns at once.
  virtual void start(float* data, std::size_t count) = 0;
  // Lets outstanding reductions advance (called after every layer of backward).
  virtual void progress() {}
  // The whole buffer in one reduction (no buckets).
  virtual void reduce(float* data, std::size_t count) = 0;
  // After every bucket was started (or reduce()): once the reductions are done
  // — or, on a device, once the work that reads `grads` will wait for them —
  // `grads` (count values) holds the mean over the ranks.
  virtual void finish(float* grads, std::size_t count) = 0;
};

}  // namespace mnist_ddp

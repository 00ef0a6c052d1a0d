// host_gradient_transport.hpp — the gradient transport over host memory: the
// Communicator's (MPI's) non-blocking float sums, then one division by the
// number of ranks.
#pragma once

#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/dist/gradient_transport.hpp"

namespace mnist_ddp {

class HostGradientTransport final : public GradientTransport {
 public:
  explicit HostGradientTransport(Communicator& comm) : comm_(comm) {}
  void start(float* data, std::size_t count) override { comm_.start_allreduce_sum(data, count); }
  // Open MPI has no progress thread by default: the reductions advance only when called.
  void progress() override { comm_.progress(); }
  void reduce(float* data, std::size_t count) override { comm_.allreduce_sum(data, count); }
  void finish(float* grads, std::size_t count) override {
    comm_.wait_all();  // returns at once when nothing was started
    const float scale = 1.0f / static_cast<float>(comm_.size());
    for (std::size_t i = 0; i < count; ++i) grads[i] *= scale;
  }

 private:
  Communicator& comm_;
};

}  // namespace mnist_ddp

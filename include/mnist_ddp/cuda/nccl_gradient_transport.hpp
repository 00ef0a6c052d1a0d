// nccl_gradient_transport.hpp — the gradient transport over device memory:
// NCCL's mean all-reduce on its own stream, ordered after the compute stream's
// backward kernels by an event, and before the optimizer the same way. Nothing
// here waits on the host.
#pragma once

#include <cuda_runtime.h>

#include "mnist_ddp/cuda/nccl_communicator.hpp"
#include "mnist_ddp/dist/gradient_transport.hpp"

namespace mnist_ddp::cuda {

class NcclGradientTransport final : public GradientTransport {
 public:
  NcclGradientTransport(NcclCommunicator& nccl, cudaStream_t compute) : nccl_(nccl), compute_(compute) {}
  // The bucket's gradient kernels are queued on the compute stream: NCCL waits for them.
  void start(float* data, std::size_t count) override {
    nccl_.after(compute_);
    nccl_.allreduce_mean(data, count);
  }
  void reduce(float* data, std::size_t count) override { start(data, count); }
  // The optimizer, queued next on the compute stream, reads the mean gradients.
  void finish(float*, std::size_t) override { nccl_.before(compute_); }

 private:
  NcclCommunicator& nccl_;
  cudaStream_t compute_;
};

}  // namespace mnist_ddp::cuda

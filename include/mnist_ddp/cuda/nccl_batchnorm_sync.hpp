// nccl_batchnorm_sync.hpp — the collective of synchronised BatchNorm (--sync-bn)
// on the GPU: the CPU's dist/batchnorm_sync.hpp over NCCL on device memory.
//
// A BatchNorm layer (cuda/batchnorm.hpp) queues its per-channel sums — Σx, Σx²
// and the row count in forward, Σdy, Σdy·x̂ and the count in backward, 2c + 1
// doubles — on the compute stream, then calls sum(): the NCCL stream waits for
// them (an event), sums them in place over the ranks, and the compute stream
// waits for that before the layer's next kernel reads the totals. Nothing here
// waits on the host. The all-reduces share the NCCL stream with the gradient
// buckets, in the same order on every rank (layers run in the same order
// everywhere); a bucket queued earlier is reduced first.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "mnist_ddp/cuda/nccl_communicator.hpp"

namespace mnist_ddp::cuda {

class NcclBatchNormSync {
 public:
  NcclBatchNormSync(NcclCommunicator& nccl, cudaStream_t compute) : nccl_(nccl), compute_(compute) {}

  // The `count` device doubles at `sums` become their totals over all ranks (stream-ordered).
  void sum(double* sums, std::size_t count) {
    nccl_.after(compute_);
    nccl_.allreduce_sum(sums, count);
    nccl_.before(compute_);
  }

 private:
  NcclCommunicator& nccl_;
  cudaStream_t compute_;
};

}  // namespace mnist_ddp::cuda

// batchnorm_sync.hpp — the collective of synchronised BatchNorm (--sync-bn),
// as PyTorch's SyncBatchNorm: in the forward pass each BatchNorm layer sums
// Σx, Σx² per channel and its row count over all ranks, so every rank
// normalises with the statistics of the global batch; in the backward pass it
// sums Σdy and Σdy·x̂ the same way (the gradients of γ and β stay per rank: the
// gradient reducer averages them with the rest). Called by the CPU layer
// (cpu/batchnorm.cpp) at its statistics points, on host memory over the
// Communicator (MPI); every rank calls it in the same order (the layers run
// in the same order everywhere, inference calls nothing).
#pragma once

#include <cstddef>
#include <vector>

#include "mnist_ddp/dist/communicator.hpp"

namespace mnist_ddp {

class BatchNormSync {
 public:
  explicit BatchNormSync(Communicator& comm) : comm_(comm) {}

  // `sums` and `count` (this rank's) become their totals over all ranks; returns the total count.
  double sum(std::vector<double>& sums, double count) {
    sums.push_back(count);
    comm_.allreduce_sum(sums.data(), sums.size());
    count = sums.back();
    sums.pop_back();
    return count;
  }

 private:
  Communicator& comm_;
};

// The layer's hook: the totals when `sync` is set, this rank's values otherwise.
inline double synchronise(BatchNormSync* sync, std::vector<double>& sums, double count) {
  return sync != nullptr ? sync->sum(sums, count) : count;
}

}  // namespace mnist_ddp

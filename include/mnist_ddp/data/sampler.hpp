// sampler.hpp — which samples each rank trains and evaluates on.
//
// Training (ShardSampler), like PyTorch's DistributedSampler: every epoch one
// global permutation of the N training samples is drawn from (seed, epoch);
// it is padded by wrapping around to a multiple of the world size W (at most
// W-1 samples repeat per epoch), and rank r takes positions r, r+W, r+2W, ...
// So every rank holds exactly ceil(N/W) samples and runs the same number of
// steps, ceil(ceil(N/W) / B), the last batch being smaller on every rank
// alike; the average of the per-rank mean gradients is then the mean over the
// global batch.
//
// Positions. Step k of the epoch covers the positions [k·B·W, (k+1)·B·W) of
// the padded global order: a run's place in an epoch is the number of global
// samples consumed, whatever W. set_start(P) continues an epoch from position
// P on this sampler's W (which may differ from the W that consumed the first
// P): the N − P remaining samples are padded to a multiple of W and
// interleaved in the same way, so every sample of the epoch is used once
// (apart from the padding).
//
// Evaluation (shard_range): no padding — rank r takes a contiguous block so
// that every image is counted exactly once.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace mnist_ddp {

// The permutation of 0..n-1 for (seed, epoch): Fisher-Yates driven by Philox.
std::vector<std::int64_t> epoch_permutation(std::int64_t n, std::uint64_t seed, std::uint32_t epoch);

class ShardSampler {
 public:
  // shuffle=false: the identity order (still padded and interleaved).
  // Throws UsageError if n < world_size or batch_size < 1.
  ShardSampler(std::int64_t n, int world_size, int rank, int batch_size, std::uint64_t seed, bool shuffle = true);

  std::int64_t shard_size() const { return shard_size_; }      // ceil(n / W), of a whole epoch
  std::int64_t steps_per_epoch() const { return steps_; }      // ceil(shard / B), of a whole epoch
  int batch_size() const { return batch_size_; }
  std::int64_t samples() const { return n_; }

  // Starts an epoch: draws its permutation, from position 0.
  void set_epoch(std::uint32_t epoch);
  // Continues the current epoch from global position `start` (0 <= start <= n).
  void set_start(std::int64_t start);
  std::int64_t start() const { return start_; }
  // Steps from start() to the epoch's end: ceil(ceil((n - start) / W) / B).
  std::int64_t steps() const { return steps_from_start_; }
  // Global samples consumed before step `step` (counted from start()), and after it.
  std::int64_t position_before(std::int64_t step) const;
  std::int64_t position_after(std::int64_t step) const { return position_before(step + 1); }
  // The sample indices of this rank's batch `step` (0-based, counted from start()) in the current epoch.
  void batch(std::int64_t step, std::vector<std::int64_t>& out) const;

 private:
  std::int64_t n_;
  int world_;
  int rank_;
  int batch_size_;
  std::uint64_t seed_;
  bool shuffle_;
  std::int64_t shard_size_;
  std::int64_t steps_;
  std::int64_t start_ = 0;
  std::int64_t shard_from_start_ = 0, steps_from_start_ = 0;
  std::vector<std::int64_t> perm_;
};

// Contiguous evaluation block [begin, end) of rank r out of W over n samples:
// sizes differ by at most one, together they cover 0..n-1 exactly once.
std::pair<std::int64_t, std::int64_t> shard_range(std::int64_t n, int world_size, int rank);

}  // namespace mnist_ddp

// sampler.cpp — the per-epoch shuffle and the split of samples across ranks.
//
// Every rank computes the same global permutation from (seed, epoch) alone, so
// no communication is needed to agree on who trains on what; each rank then
// keeps its interleaved slice (see sampler.hpp for the padding rules).
#include "mnist_ddp/data/sampler.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/core/rng.hpp"

namespace mnist_ddp {

namespace {

// Uniform integer in [0, bound) from the Philox words addressed by (seed,
// epoch, i). Lemire's multiply-and-reject: the plain `bits % bound` would
// favour small values slightly. A rejection (probability < bound / 2^32)
// moves on to the next word, then to the next counter block, so the result
// is still a pure function of (seed, epoch, i).
std::uint32_t bounded_draw(std::uint64_t seed, std::uint32_t epoch, std::uint32_t i, std::uint32_t bound) {
  const std::uint32_t threshold = static_cast<std::uint32_t>(-bound) % bound;  // 2^32 mod bound
  for (std::uint32_t block = 0;; ++block) {
    const Philox4 bits = random_bits(seed, RngStream::kShuffle, epoch, i, block);
    for (std::uint32_t word : bits.v) {
      const std::uint64_t m = static_cast<std::uint64_t>(word) * bound;
      if (static_cast<std::uint32_t>(m) >= threshold) return static_cast<std::uint32_t>(m >> 32);
    }
  }
}

}  // namespace

std::vector<std::int64_t> epoch_permutation(std::int64_t n, std::uint64_t seed, std::uint32_t epoch) {
  // The draw index is a 32-bit counter word.
  MNIST_ASSERT(n >= 0 && n <= static_cast<std::int64_t>(std::numeric_limits<std::uint32_t>::max()),
               "cannot permute " << n << " samples");
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  std::iota(perm.begin(), perm.end(), std::int64_t{0});
  for (std::int64_t i = n - 1; i > 0; --i) {
    const std::uint32_t j =
        bounded_draw(seed, epoch, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i + 1));
    std::swap(perm[static_cast<std::size_t>(i)], perm[j]);
  }
  return perm;
}

ShardSampler::ShardSampler(std::int64_t n, int world_size, int rank, int batch_size, std::uint64_t seed,
                           bool shuffle)
    : n_(n), world_(world_size), rank_(rank), batch_size_(batch_size), seed_(seed), shuffle_(shuffle) {
  MNIST_CHECK(world_size >= 1, UsageError, "the world size must be at least 1, got " << world_size);
  MNIST_CHECK(rank >= 0 && rank < world_size, UsageError,
              "rank " << rank << " is outside [0, " << world_size << ")");
  MNIST_CHECK(batch_size >= 1, UsageError, "--batch-size must be at least 1, got " << batch_size);
  // With fewer samples than ranks the wrap-around padding would hand some ranks
  // nothing but duplicates; refuse rather than train on a degenerate split.
  MNIST_CHECK(n >= world_size, UsageError,
              "--batch-size " << batch_size << " x " << world_size << " ranks: the training set has only " << n
                              << (n == 1 ? " image" : " images") << ", fewer than the " << world_size
                              << " ranks");
  shard_size_ = n_ / world_ + (n_ % world_ != 0 ? 1 : 0);  // ceil(n / W)
  steps_ = (shard_size_ + batch_size_ - 1) / batch_size_;
  // Usable without set_epoch(): the order of epoch 0.
  set_epoch(0);
}

void ShardSampler::set_start(std::int64_t start) {
  MNIST_ASSERT(start >= 0 && start <= n_, "start position " << start << " of " << n_);
  start_ = start;
  const std::int64_t rest = n_ - start_;
  shard_from_start_ = rest / world_ + (rest % world_ != 0 ? 1 : 0);
  steps_from_start_ = (shard_from_start_ + batch_size_ - 1) / batch_size_;
}

std::int64_t ShardSampler::position_before(std::int64_t step) const {
  return std::min(n_, start_ + step * static_cast<std::int64_t>(batch_size_) * world_);
}

void ShardSampler::set_epoch(std::uint32_t epoch) {
  set_start(0);
  if (shuffle_) {
    perm_ = epoch_permutation(n_, seed_, epoch);
  } else if (static_cast<std::int64_t>(perm_.size()) != n_) {
    perm_.resize(static_cast<std::size_t>(n_));
    std::iota(perm_.begin(), perm_.end(), std::int64_t{0});
  }
}

void ShardSampler::batch(std::int64_t step, std::vector<std::int64_t>& out) const {
  MNIST_ASSERT(step >= 0 && step < steps_from_start_, "step " << step << " of " << steps_from_start_);
  const std::int64_t first = step * batch_size_;
  const std::int64_t last = std::min(first + batch_size_, shard_from_start_);
  out.clear();
  out.reserve(static_cast<std::size_t>(last - first));
  for (std::int64_t k = first; k < last; ++k) {
    // Position in the padded global order; past n it wraps to the start,
    // which is the padding (n >= W, so at most W-1 positions wrap).
    const std::int64_t pos = start_ + rank_ + k * world_;
    out.push_back(perm_[static_cast<std::size_t>(pos % n_)]);
  }
}

std::pair<std::int64_t, std::int64_t> shard_range(std::int64_t n, int world_size, int rank) {
  MNIST_CHECK(world_size >= 1, UsageError, "the world size must be at least 1, got " << world_size);
  MNIST_CHECK(rank >= 0 && rank < world_size, UsageError,
              "rank " << rank << " is outside [0, " << world_size << ")");
  MNIST_ASSERT(n >= 0, "negative sample count " << n);
  // The first n % W ranks take one extra sample.
  const std::int64_t base = n / world_size, extra = n % world_size;
  const std::int64_t begin = rank * base + std::min<std::int64_t>(rank, extra);
  const std::int64_t size = base + (rank < extra ? 1 : 0);
  return {begin, begin + size};
}

}  // namespace mnist_ddp

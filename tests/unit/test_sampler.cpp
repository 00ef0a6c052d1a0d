// test_sampler.cpp — the epoch shuffle and the training/evaluation sharding.
//
// Distributed training is only equivalent to one big batch if every rank runs
// the same number of equally sized steps and the ranks together cover the
// data; these tests check that for awkward sizes (n not divisible by W,
// n barely above W) as well as the MNIST-like case.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/data/sampler.hpp"

namespace mnist_ddp {
namespace {

bool is_permutation_of_iota(std::vector<std::int64_t> p) {
  std::sort(p.begin(), p.end());
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] != static_cast<std::int64_t>(i)) return false;
  }
  return true;
}

TEST(SamplerPermutation, IsAPermutation) {
  for (std::int64_t n : {0, 1, 2, 7, 13, 1000, 60000}) {
    const auto p = epoch_permutation(n, 42, 0);
    EXPECT_EQ(static_cast<std::int64_t>(p.size()), n);
    EXPECT_TRUE(is_permutation_of_iota(p)) << n;
  }
}

TEST(SamplerPermutation, DeterministicPerSeedAndEpoch) {
  const auto a = epoch_permutation(1000, 42, 3);
  EXPECT_EQ(a, epoch_permutation(1000, 42, 3));
  EXPECT_NE(a, epoch_permutation(1000, 42, 4));
  EXPECT_NE(a, epoch_permutation(1000, 43, 3));
  std::vector<std::int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), std::int64_t{0});
  EXPECT_NE(a, identity);
}

// Each of the 6 orders of 3 elements should come up about 1/6 of the time;
// a biased bounded draw (or an off-by-one in Fisher-Yates) skews this.
TEST(SamplerPermutation, SmallPermutationsUniform) {
  constexpr int kEpochs = 12000;
  std::vector<int> count(6, 0);
  for (std::uint32_t e = 0; e < kEpochs; ++e) {
    const auto p = epoch_permutation(3, 7, e);
    const int code = static_cast<int>(p[0] * 3 + p[1]);  // (p0, p1) identifies the order
    const int index[9] = {-1, 0, 1, 2, -1, 3, 4, 5, -1};
    ASSERT_GE(index[code], 0);
    ++count[index[code]];
  }
  // chi-square, 5 degrees of freedom, 0.1% critical value 20.5.
  const double expected = kEpochs / 6.0;
  double chi2 = 0.0;
  for (int c : count) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 20.5);
}

// Every position of a 10-element permutation sees every value about equally.
TEST(SamplerPermutation, PositionsUniform) {
  constexpr int n = 10, kEpochs = 5000;
  std::vector<int> count(n * n, 0);
  for (std::uint32_t e = 0; e < kEpochs; ++e) {
    const auto p = epoch_permutation(n, 99, e);
    for (int i = 0; i < n; ++i) ++count[i * n + p[i]];
  }
  for (int c : count) {
    EXPECT_GT(c, 500 - 100);  // mean 500, sd ≈ 21
    EXPECT_LT(c, 500 + 100);
  }
}

struct Epoch {
  std::vector<std::vector<std::vector<std::int64_t>>> batches;  // [rank][step]
};

Epoch run_epoch(std::int64_t n, int world, int batch, std::uint64_t seed, std::uint32_t epoch, bool shuffle) {
  Epoch e;
  for (int r = 0; r < world; ++r) {
    ShardSampler s(n, world, r, batch, seed, shuffle);
    s.set_epoch(epoch);
    std::vector<std::vector<std::int64_t>> steps;
    for (std::int64_t k = 0; k < s.steps_per_epoch(); ++k) {
      std::vector<std::int64_t> b;
      s.batch(k, b);
      steps.push_back(b);
    }
    e.batches.push_back(steps);
  }
  return e;
}

TEST(SamplerShard, CoverageAndBalance) {
  for (int world : {1, 2, 3, 4, 7}) {
    for (std::int64_t n : {1000, 10, 7, 13}) {
      for (int batch : {1, 3, 32}) {
        SCOPED_TRACE(testing::Message() << "W=" << world << " n=" << n << " B=" << batch);
        const std::int64_t shard = (n + world - 1) / world;
        const std::int64_t steps = (shard + batch - 1) / batch;
        const Epoch e = run_epoch(n, world, batch, 1234, 5, true);
        std::vector<int> seen(static_cast<std::size_t>(n), 0);
        for (int r = 0; r < world; ++r) {
          const ShardSampler s(n, world, r, batch, 1234);
          EXPECT_EQ(s.shard_size(), shard);
          EXPECT_EQ(s.steps_per_epoch(), steps);
          EXPECT_EQ(s.batch_size(), batch);
          ASSERT_EQ(static_cast<std::int64_t>(e.batches[r].size()), steps);
          std::int64_t total = 0;
          for (std::int64_t k = 0; k < steps; ++k) {
            const auto& b = e.batches[r][k];
            // Same batch size on every rank at every step; only the last is short.
            EXPECT_EQ(b.size(), e.batches[0][k].size());
            EXPECT_EQ(static_cast<std::int64_t>(b.size()), k + 1 < steps ? batch : shard - k * batch);
            for (std::int64_t i : b) {
              ASSERT_GE(i, 0);
              ASSERT_LT(i, n);
              ++seen[static_cast<std::size_t>(i)];
            }
            total += static_cast<std::int64_t>(b.size());
          }
          EXPECT_EQ(total, shard);
        }
        int duplicates = 0;
        for (int c : seen) {
          EXPECT_GE(c, 1);  // everything covered
          EXPECT_LE(c, 2);
          duplicates += c - 1;
        }
        EXPECT_EQ(duplicates, shard * world - n);
        EXPECT_LE(duplicates, world - 1);
      }
    }
  }
}

// The interleaving of DistributedSampler: rank r takes positions r, r+W, ...
// of the permutation padded by wrapping around to its start.
TEST(SamplerShard, InterleavesPaddedPermutation) {
  const std::int64_t n = 13;
  const int world = 4, batch = 2;
  const auto perm = epoch_permutation(n, 77, 2);
  for (int r = 0; r < world; ++r) {
    ShardSampler s(n, world, r, batch, 77);
    s.set_epoch(2);
    std::vector<std::int64_t> got, b;
    for (std::int64_t k = 0; k < s.steps_per_epoch(); ++k) {
      s.batch(k, b);
      got.insert(got.end(), b.begin(), b.end());
    }
    std::vector<std::int64_t> want;
    for (std::int64_t pos = r; pos < 16; pos += world) want.push_back(perm[pos % n]);
    EXPECT_EQ(got, want) << "rank " << r;
  }
}

TEST(SamplerShard, EpochsDifferAndRepeat) {
  const Epoch a = run_epoch(1000, 3, 32, 42, 0, true);
  EXPECT_EQ(a.batches, run_epoch(1000, 3, 32, 42, 0, true).batches);
  EXPECT_NE(a.batches, run_epoch(1000, 3, 32, 42, 1, true).batches);
  EXPECT_NE(a.batches, run_epoch(1000, 3, 32, 43, 0, true).batches);
  // Going back to an epoch gives its order again.
  ShardSampler s(1000, 3, 1, 32, 42);
  std::vector<std::int64_t> first, again;
  s.set_epoch(6);
  s.batch(0, first);
  s.set_epoch(7);
  s.set_epoch(6);
  s.batch(0, again);
  EXPECT_EQ(first, again);
}

TEST(SamplerShard, UsableBeforeSetEpoch) {
  ShardSampler a(100, 2, 0, 10, 42), b(100, 2, 0, 10, 42);
  b.set_epoch(0);
  std::vector<std::int64_t> x, y;
  a.batch(0, x);
  b.batch(0, y);
  EXPECT_EQ(x, y);
}

TEST(SamplerShard, NoShuffleIsIdentityOrder) {
  for (int world : {1, 3}) {
    for (std::uint32_t epoch : {0u, 5u}) {
      const Epoch e = run_epoch(10, world, 2, 42, epoch, false);
      for (int r = 0; r < world; ++r) {
        std::vector<std::int64_t> got;
        for (const auto& b : e.batches[r]) got.insert(got.end(), b.begin(), b.end());
        std::vector<std::int64_t> want;
        const std::int64_t padded = (10 + world - 1) / world * world;
        for (std::int64_t pos = r; pos < padded; pos += world) want.push_back(pos % 10);
        EXPECT_EQ(got, want);
      }
    }
  }
}

TEST(SamplerShard, BadArgumentsThrowUsageError) {
  EXPECT_THROW(ShardSampler(5, 7, 0, 128, 1), UsageError);
  EXPECT_THROW(ShardSampler(0, 1, 0, 1, 1), UsageError);
  EXPECT_THROW(ShardSampler(100, 2, 0, 0, 1), UsageError);
  EXPECT_THROW(ShardSampler(100, 2, 0, -3, 1), UsageError);
  EXPECT_THROW(ShardSampler(100, 0, 0, 8, 1), UsageError);
  EXPECT_THROW(ShardSampler(100, 2, 2, 8, 1), UsageError);
  EXPECT_THROW(ShardSampler(100, 2, -1, 8, 1), UsageError);
  EXPECT_NO_THROW(ShardSampler(7, 7, 6, 128, 1));
  try {
    ShardSampler(5, 7, 0, 128, 1);
    FAIL() << "no exception";
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("only 5 images"), std::string::npos) << msg;
    EXPECT_NE(msg.find("7 ranks"), std::string::npos) << msg;
  }
}

TEST(SamplerRange, CoversExactlyOnceBalanced) {
  for (int world : {1, 2, 3, 4, 7}) {
    for (std::int64_t n : {0, 1, 5, 7, 10, 13, 1000, 10000}) {
      std::int64_t next = 0, lo = n, hi = 0;
      for (int r = 0; r < world; ++r) {
        const auto [begin, end] = shard_range(n, world, r);
        EXPECT_EQ(begin, next) << "W=" << world << " n=" << n << " r=" << r;
        EXPECT_LE(begin, end);
        lo = std::min(lo, end - begin);
        hi = std::max(hi, end - begin);
        next = end;
      }
      EXPECT_EQ(next, n) << "W=" << world << " n=" << n;
      EXPECT_LE(hi - lo, 1) << "W=" << world << " n=" << n;
    }
  }
  EXPECT_EQ(shard_range(10, 3, 0), std::make_pair(std::int64_t{0}, std::int64_t{4}));
  EXPECT_EQ(shard_range(10, 3, 1), std::make_pair(std::int64_t{4}, std::int64_t{7}));
  EXPECT_EQ(shard_range(10, 3, 2), std::make_pair(std::int64_t{7}, std::int64_t{10}));
  EXPECT_THROW(shard_range(10, 3, 3), UsageError);
  EXPECT_THROW(shard_range(10, 0, 0), UsageError);
}

// An epoch started on W ranks and continued from its global position on W'
// ranks (set_start): the two parts together use every sample of the epoch's
// permutation exactly once (no padding where W' divides the rest), in the
// order of positions; on the same W the rest is exactly the batches that the
// uninterrupted epoch would have taken.
TEST(SamplerResume, ContinuesFromTheGlobalPositionOnAnotherWorldSize) {
  const std::int64_t n = 126;  // 30 + 96: 96 divisible by 1, 2, 3 and 4
  const int batch = 5;
  for (int resumed_world : {1, 2, 3, 4}) {
    std::vector<int> uses(n, 0);
    std::vector<std::int64_t> ids;
    std::int64_t position = 0;
    for (int r = 0; r < 2; ++r) {  // two ranks make 3 steps (30 samples)
      ShardSampler s(n, 2, r, batch, 42);
      s.set_epoch(1);
      for (std::int64_t k = 0; k < 3; ++k) {
        s.batch(k, ids);
        for (auto id : ids) ++uses[static_cast<std::size_t>(id)];
      }
      position = s.position_after(2);
    }
    ASSERT_EQ(position, 30);
    for (int r = 0; r < resumed_world; ++r) {
      ShardSampler s(n, resumed_world, r, batch, 42);
      s.set_epoch(1);
      s.set_start(position);
      EXPECT_EQ(s.steps(), ((n - position) / resumed_world + batch - 1) / batch);
      for (std::int64_t k = 0; k < s.steps(); ++k) {
        s.batch(k, ids);
        for (auto id : ids) ++uses[static_cast<std::size_t>(id)];
      }
      EXPECT_EQ(s.position_after(s.steps() - 1), n);
    }
    for (std::int64_t i = 0; i < n; ++i) EXPECT_EQ(uses[static_cast<std::size_t>(i)], 1) << "sample " << i << " on "
                                                                                          << resumed_world;
  }
  // Same world size: the continuation is the rest of the uninterrupted epoch.
  ShardSampler whole(n, 2, 1, batch, 42), rest(n, 2, 1, batch, 42);
  whole.set_epoch(3);
  rest.set_epoch(3);
  rest.set_start(whole.position_after(4));
  std::vector<std::int64_t> a, b;
  for (std::int64_t k = 0; k < rest.steps(); ++k) {
    whole.batch(k + 5, a);
    rest.batch(k, b);
    EXPECT_EQ(a, b) << "step " << k;
  }
  EXPECT_EQ(rest.steps() + 5, whole.steps_per_epoch());
}

// Continuing on W' with a rest not divisible by W' pads by wrapping to the
// start of the epoch's order, at most W'-1 samples, like a fresh epoch.
TEST(SamplerResume, PadsTheRestLikeAnEpoch) {
  ShardSampler s(100, 3, 2, 8, 7);
  s.set_epoch(0);
  s.set_start(40);  // 60 left: 20 per rank
  EXPECT_EQ(s.steps(), 3);
  s.set_start(41);  // 59 left: 20 per rank, one padded position
  EXPECT_EQ(s.steps(), 3);
  const auto perm = epoch_permutation(100, 7, 0);
  std::vector<std::int64_t> ids;
  s.batch(2, ids);
  EXPECT_EQ(ids.back(), perm[0]);  // position 41 + 2 + 19*3 = 100 wraps to 0
  s.set_start(100);
  EXPECT_EQ(s.steps(), 0);
}

}  // namespace
}  // namespace mnist_ddp

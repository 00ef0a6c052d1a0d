// decision.cpp — the rank-0 decision broadcast and the cross-rank weight check.
#include "mnist_ddp/train/decision.hpp"

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace mnist_ddp {

static_assert(std::is_trivially_copyable_v<Decision>, "Decision is broadcast as bytes");

Decision decide_on_root(Communicator& comm, EpochCallbacks& callbacks, int epoch, double val_loss, double lr) {
  Decision decision;
  decision.lr = lr;
  if (comm.is_root()) decision = callbacks.on_epoch_end(epoch, val_loss, lr);
  comm.broadcast(&decision, sizeof decision, 0);
  return decision;
}

bool identical_on_all_ranks(Communicator& comm, const float* data, std::size_t count) {
  // FNV-1a over the bytes, then the minimum and maximum hash over the ranks
  // (as sums of a one-hot slot per rank: the interface only needs allreduce).
  std::uint64_t hash = 1469598103934665603ull;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < count * sizeof(float); ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  std::vector<std::int64_t> slots(comm.size(), 0);
  std::int64_t signed_hash;
  std::memcpy(&signed_hash, &hash, sizeof hash);
  slots[comm.rank()] = signed_hash;
  comm.allreduce_sum(slots.data(), slots.size());
  for (std::int64_t h : slots)
    if (h != slots[0]) return false;
  return true;
}

}  // namespace mnist_ddp

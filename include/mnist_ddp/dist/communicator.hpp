// communicator.hpp — what the trainer needs from the process group.
//
// The trainer is written against this interface so that it (and its tests)
// need no MPI: SingleProcessCommunicator is the world of one, MpiCommunicator
// (mpi_communicator.hpp) the real one. Every rank must call the collectives in
// the same order with the same counts.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mnist_ddp {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;   // rank among the processes on this node
  virtual int local_size() const = 0;   // processes on this node

  // In-place element-wise sums over all ranks.
  virtual void allreduce_sum(float* data, std::size_t count) = 0;
  virtual void allreduce_sum(double* data, std::size_t count) = 0;
  virtual void allreduce_sum(std::int64_t* data, std::size_t count) = 0;
  // Root's bytes to every rank.
  virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
  virtual void barrier() = 0;

  // Non-blocking in-place float sum: starts it and returns at once. The buffer
  // must not be touched until wait_all(); progress() lets the library advance
  // the outstanding reductions (Open MPI has no progress thread by default).
  virtual void start_allreduce_sum(float* data, std::size_t count) = 0;
  virtual void progress() = 0;
  virtual void wait_all() = 0;

  bool is_root() const { return rank() == 0; }
};

class SingleProcessCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  void allreduce_sum(float*, std::size_t) override {}
  void allreduce_sum(double*, std::size_t) override {}
  void allreduce_sum(std::int64_t*, std::size_t) override {}
  void broadcast(void*, std::size_t, int) override {}
  void barrier() override {}
  void start_allreduce_sum(float*, std::size_t) override {}
  void progress() override {}
  void wait_all() override {}
};

}  // namespace mnist_ddp

#include <algorithm>
#include <string>
#include <vector>

namespace mnist_ddp {

// Collective: every rank's `value`, indexed by rank, on every rank.
inline std::vector<double> all_gather(Communicator& comm, double value) {
  std::vector<double> slots(comm.size(), 0.0);
  slots[comm.rank()] = value;
  comm.allreduce_sum(slots.data(), slots.size());
  return slots;
}

// Collective: every rank's `text` (its first `max_chars` characters, e.g. a host
// name), indexed by rank, on every rank: each rank fills its slot, the sum of
// the zero-filled slots is the concatenation.
inline std::vector<std::string> all_gather_text(Communicator& comm, const std::string& text,
                                                std::size_t max_chars = 64) {
  std::vector<std::int64_t> slots(static_cast<std::size_t>(comm.size()) * max_chars, 0);
  const std::size_t n = std::min(text.size(), max_chars);
  for (std::size_t i = 0; i < n; ++i)
    slots[static_cast<std::size_t>(comm.rank()) * max_chars + i] = static_cast<unsigned char>(text[i]);
  comm.allreduce_sum(slots.data(), slots.size());
  std::vector<std::string> out(static_cast<std::size_t>(comm.size()));
  for (std::size_t r = 0; r < out.size(); ++r)
    for (std::size_t i = 0; i < max_chars && slots[r * max_chars + i] != 0; ++i)
      out[r] += static_cast<char>(slots[r * max_chars + i]);
  return out;
}

}  // namespace mnist_ddp

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
};

}  // namespace mnist_ddp

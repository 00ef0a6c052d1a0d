// sample_trace.hpp — a test hook that logs which samples each rank trains on.
//
//   MNIST_DDP_TRACE_SAMPLES=DIR   every rank appends one line per training
//                                 step to DIR/samples.rank<R>.txt: the epoch
//                                 (1-based), then the sample indices of its batch
//
// The resume tests (tests/cli/test_checkpoint.sh) count with it that an epoch
// split between runs on different rank counts uses every sample once. Nothing
// is written unless the variable is set.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <vector>

namespace mnist_ddp {

class SampleTrace {
 public:
  // Reads MNIST_DDP_TRACE_SAMPLES; a file that cannot be opened is a RuntimeError naming it.
  static SampleTrace from_environment(int rank);
  void record(int epoch, const std::vector<std::int64_t>& ids);

 private:
  std::shared_ptr<std::ofstream> out_;  // null: no trace
};

}  // namespace mnist_ddp

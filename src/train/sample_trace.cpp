// sample_trace.cpp — MNIST_DDP_TRACE_SAMPLES: one line of sample indices per step and rank.
#include "mnist_ddp/train/sample_trace.hpp"

#include <cstdlib>
#include <string>

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

SampleTrace SampleTrace::from_environment(int rank) {
  SampleTrace trace;
  const char* dir = std::getenv("MNIST_DDP_TRACE_SAMPLES");
  if (dir == nullptr || *dir == '\0') return trace;
  const std::string path = std::string(dir) + "/samples.rank" + std::to_string(rank) + ".txt";
  trace.out_ = std::make_shared<std::ofstream>(path, std::ios::app);
  MNIST_CHECK(trace.out_->good(), RuntimeError, "MNIST_DDP_TRACE_SAMPLES: cannot append to " << path);
  return trace;
}

void SampleTrace::record(int epoch, const std::vector<std::int64_t>& ids) {
  if (!out_) return;
  *out_ << epoch;
  for (std::int64_t id : ids) *out_ << ' ' << id;
  *out_ << '\n';
  out_->flush();
}

}  // namespace mnist_ddp

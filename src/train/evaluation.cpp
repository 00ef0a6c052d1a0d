// evaluation.cpp — sharded evaluation over a step backend and a communicator.
#include "mnist_ddp/train/evaluation.hpp"

#include <algorithm>
#include <vector>

#include "mnist_ddp/data/sampler.hpp"

namespace mnist_ddp {

EvalResult evaluate_sharded(const Model& model, StepBackend& backend, Communicator& comm, const MnistSet& set,
                            int batch_size) {
  EvalResult r;
  const auto [begin, end] = shard_range(set.count, comm.size(), comm.rank());
  backend.upload(model, nullptr);  // the host weights are the ones to evaluate
  std::vector<std::int64_t> ids;
  for (std::int64_t b = begin; b < end; b += batch_size) {
    const std::int64_t n = std::min<std::int64_t>(batch_size, end - b);
    ids.resize(n);
    for (std::int64_t i = 0; i < n; ++i) ids[i] = b + i;
    backend.load_batch(set, ids, 0, false);
    backend.evaluate_batch(static_cast<int>(n));  // inference
  }
  double loss = backend.take_evaluation(r.confusion);
  comm.allreduce_sum(&loss, 1);
  comm.allreduce_sum(r.confusion.data(), kNumClasses * kNumClasses);
  r.count = r.confusion.total();
  r.loss = r.count > 0 ? loss / static_cast<double>(r.count) : 0.0;
  r.accuracy = r.confusion.accuracy();
  return r;
}

}  // namespace mnist_ddp

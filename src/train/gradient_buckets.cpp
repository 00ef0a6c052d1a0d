// gradient_buckets.cpp — bucket layout and the overlapped all-reduce.
#include "mnist_ddp/train/gradient_buckets.hpp"

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

GradientBuckets::GradientBuckets(Communicator& comm, Model& model, std::size_t bucket_bytes)
    : comm_(comm), model_(model) {
  if (bucket_bytes == 0 || comm.size() == 1) return;
  const std::size_t layers = model.layers().size();
  const std::size_t limit = bucket_bytes / sizeof(float);
  std::size_t end = model.grads().size();
  for (std::size_t i = layers; i-- > 0;) {
    const std::size_t begin = model.param_offset(i);
    // Close the bucket at layer i when it is full or at the first layer.
    if (end - begin >= limit || i == 0) {
      if (end > begin) buckets_.push_back(Bucket{begin, end, i});
      end = begin;
    }
  }
}

void GradientBuckets::on_layer_done(std::size_t layer) {
  if (buckets_.empty()) return;
  while (next_ < buckets_.size() && buckets_[next_].first_layer == layer) {
    const Bucket& b = buckets_[next_++];
    comm_.start_allreduce_sum(model_.grads().data() + b.begin, b.end - b.begin);
  }
  comm_.progress();
}

void GradientBuckets::finish() {
  if (comm_.size() == 1) return;
  auto& g = model_.grads();
  if (buckets_.empty()) {
    comm_.allreduce_sum(g.data(), g.size());
  } else {
    MNIST_ASSERT(next_ == buckets_.size(), "backward finished with " << buckets_.size() - next_ << " buckets unstarted");
    comm_.wait_all();
    next_ = 0;
  }
  const float scale = 1.0f / static_cast<float>(comm_.size());
  for (float& v : g) v *= scale;
}

}  // namespace mnist_ddp

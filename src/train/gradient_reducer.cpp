// gradient_reducer.cpp — the bucket plan and the overlapped launch order.
#include "mnist_ddp/train/gradient_reducer.hpp"

#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {

std::vector<GradientBucket> plan_gradient_buckets(const ModelLayout& layout, std::size_t bucket_bytes) {
  std::vector<GradientBucket> buckets;
  if (bucket_bytes == 0) return buckets;
  const std::size_t limit = bucket_bytes / sizeof(float);
  std::size_t end = layout.param_count();
  for (std::size_t i = layout.size(); i-- > 0;) {
    const std::size_t begin = layout[i].param_offset;
    // Close the bucket at layer i when it is full or at the first layer.
    if (end - begin >= limit || i == 0) {
      if (end > begin) buckets.push_back(GradientBucket{begin, end, i});
      end = begin;
    }
  }
  return buckets;
}

GradientReducer::GradientReducer(GradientTransport* transport, const ModelLayout& layout, float* grads,
                                 std::size_t bucket_bytes)
    : transport_(transport), grads_(grads), count_(layout.param_count()) {
  if (transport_ != nullptr) buckets_ = plan_gradient_buckets(layout, bucket_bytes);
}

std::function<void(std::size_t)> GradientReducer::layer_callback() {
  if (!overlapped()) return {};
  return [this](std::size_t layer) { on_layer_done(layer); };
}

void GradientReducer::on_layer_done(std::size_t layer) {
  if (!overlapped()) return;
  while (next_ < buckets_.size() && buckets_[next_].first_layer == layer) {
    const GradientBucket& b = buckets_[next_++];
    transport_->start(grads_ + b.begin, b.end - b.begin);
    ++collectives_;
  }
  transport_->progress();
}

void GradientReducer::all_layers_done(std::size_t layers) {
  for (std::size_t i = layers; i-- > 0;) on_layer_done(i);
}

void GradientReducer::finish() {
  if (transport_ == nullptr) return;  // one rank: its gradients are the mean
  ++reductions_;
  if (buckets_.empty()) {
    transport_->reduce(grads_, count_);
    ++collectives_;
  } else {
    MNIST_ASSERT(next_ == buckets_.size(), "backward finished with " << buckets_.size() - next_ << " buckets unstarted");
    next_ = 0;
  }
  transport_->finish(grads_, count_);
}

}  // namespace mnist_ddp

// gradient_reducer.hpp — averaging the gradients across ranks, overlapped with
// the backward pass (PyTorch DDP's Reducer, on the flat gradient buffer).
//
// The bucket plan: the flat gradient buffer is cut into buckets of about
// `bucket_bytes`, each a run of whole layers, numbered from the LAST layer
// backwards — the order in which backward finishes them.
// The scheduler: when backward completes the first (lowest) layer of a bucket,
// that bucket's reduction starts while the earlier layers are still being
// computed. Buckets are always started in the same order on every rank, so every
// rank issues the same collectives. No buckets (bucket_bytes = 0): one reduction
// of the whole buffer after backward.
// The reductions themselves are the transport's (dist/gradient_transport.hpp):
// MPI on host memory for the CPU backend, NCCL on device memory for the GPU's.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "mnist_ddp/dist/gradient_transport.hpp"
#include "mnist_ddp/nn/model_layout.hpp"

namespace mnist_ddp {

struct GradientBucket {
  std::size_t begin, end;    // range in the flat gradient buffer
  std::size_t first_layer;   // lowest layer index in the bucket: its completion starts the bucket
};

// The buckets of `layout`'s gradients (empty when bucket_bytes = 0).
std::vector<GradientBucket> plan_gradient_buckets(const ModelLayout& layout, std::size_t bucket_bytes);

class GradientReducer {
 public:
  // `grads`: the flat gradient buffer of `layout` (host or device memory, as the
  // transport expects). transport null: one rank, whose gradients are the mean.
  GradientReducer(GradientTransport* transport, const ModelLayout& layout, float* grads, std::size_t bucket_bytes);

  // Called by backward after layer `layer` is done (or queued, on a device).
  void on_layer_done(std::size_t layer);
  // What backward should call after each layer: empty when nothing overlaps.
  std::function<void(std::size_t)> layer_callback();
  // Starts the whole-buffer reduction when there are no buckets, then lets the
  // transport finish: grads then holds the mean gradient on every rank.
  void finish();

  // The layers' completions replayed at once (last to first) when backward ran
  // without the callback, e.g. after the gradients of earlier micro-batches
  // were added in (--accumulate).
  void all_layers_done(std::size_t layers);

  const std::vector<GradientBucket>& buckets() const { return buckets_; }
  // Gradient reductions across the ranks so far (one per finish(), 0 for one
  // rank), and the collectives they took (one per bucket, or one).
  std::int64_t reductions() const { return reductions_; }
  std::int64_t collectives() const { return collectives_; }
  bool overlapped() const { return transport_ != nullptr && !buckets_.empty(); }

 private:
  GradientTransport* transport_;
  float* grads_;
  std::size_t count_;
  std::vector<GradientBucket> buckets_;  // empty for one rank
  std::size_t next_ = 0;                 // next bucket to start
  std::int64_t reductions_ = 0, collectives_ = 0;
};

}  // namespace mnist_ddp

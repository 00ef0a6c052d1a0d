// gradient_buckets.hpp — averaging the gradients across ranks, overlapped with
// the backward pass (PyTorch DDP's reducer, on the flat gradient buffer).
//
// The flat gradient buffer is cut into buckets of about `bucket_bytes`, each a
// run of whole layers, numbered from the LAST layer backwards — the order in
// which backward finishes them. When backward completes the first (lowest)
// layer of a bucket, that bucket's non-blocking all-reduce starts while the
// earlier layers are still being computed. Buckets are always started in the
// same order on every rank, so every rank issues the same collectives.
// bucket_bytes = 0: one blocking all-reduce of the whole buffer after backward.
#pragma once

#include <cstddef>
#include <vector>

#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/nn/model.hpp"

namespace mnist_ddp {

class GradientBuckets {
 public:
  GradientBuckets(Communicator& comm, Model& model, std::size_t bucket_bytes);

  // Called by Model::backward after layer `layer` is done.
  void on_layer_done(std::size_t layer);
  // Waits for every bucket (or reduces the whole buffer), then divides by the
  // number of ranks: grads() then holds the mean gradient on every rank.
  void finish();

  struct Bucket {
    std::size_t begin, end;    // range in the flat gradient buffer
    std::size_t first_layer;   // lowest layer index in the bucket: its completion starts the bucket
  };
  const std::vector<Bucket>& buckets() const { return buckets_; }
  bool overlapped() const { return !buckets_.empty(); }

 private:
  Communicator& comm_;
  Model& model_;
  std::vector<Bucket> buckets_;
  std::size_t next_ = 0;       // next bucket to start
};

}  // namespace mnist_ddp

// maxpool.hpp — MaxPooling2D, square window = stride, 'valid' (CPU), on NHWC.
//
// The project's own loop, not oneDNN's: on NHWC memory oneDNN 2.6's pooling
// (jit:avx2 here) was 3–6× slower than this loop at the seed CNN's shapes
// (results/onednn/README.md). Channels are the contiguous inner dimension, so
// each window is pool² contiguous vectors of c floats. The forward pass keeps
// the winner of each window (its index in the window, one byte per output,
// the first maximum on ties, as Keras and oneDNN); the backward pass writes
// every dx element once — the gradient at the winner, 0 elsewhere and in the
// rows and columns past the last whole window — with no scatter and no
// separate zeroing pass. 2x2 windows over channel counts of 8k (all of the seed
// CNN's) take an AVX2 forward, 4-6x the scalar loop: the same winners, ties included.
#pragma once

#include <cstdint>
#include <vector>

#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp {

class MaxPoolCpu final : public Layer {
 public:
  using Layer::Layer;
  void reserve(int max_batch) override;
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;

 private:
  int pool() const { return layout().spec.kernel; }       // window side = stride
  std::vector<std::uint8_t> winner_;  // per output element: the window index of its maximum
};

}  // namespace mnist_ddp

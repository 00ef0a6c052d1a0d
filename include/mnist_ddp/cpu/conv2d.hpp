// conv2d.hpp — Conv2D, 'same' padding, stride 1, with a fused activation (CPU).
//
// Lowered to GEMM: im2col turns a chunk of images into rows of k·k·cin patch
// values ordered (ky, kx, cin) — the order of Keras's kernel (kh, kw, in, out) —
// so the forward pass is Y(P×cout) = Col(P×K) · W(K×cout) + b with no weight
// reshuffling. Chunks of images run in parallel, each in its own im2col buffer.
#pragma once

#include <vector>

#include "mnist_ddp/nn/layer.hpp"

namespace mnist_ddp {

class Conv2DCpu final : public Layer {
 public:
  Conv2DCpu(const LayerLayout& layout, Activation act);
  void reserve(int max_batch) override;
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;

 private:
  int images_per_chunk() const;
  void im2col(const float* x, int images, float* col) const;   // col: (images·h·w, K)
  void col2im(const float* col, int images, float* dx) const;  // dx += scattered col
  int k_, cin_, cout_, pad_;
  Activation act_;
  std::size_t patch_;                          // K = k·k·cin
  std::vector<std::vector<float>> col_;        // per thread: (chunk·h·w, K)
  std::vector<std::vector<float>> dw_part_;    // per thread: K·cout + cout
};

}  // namespace mnist_ddp

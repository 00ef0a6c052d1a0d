// single_channel_conv.hpp — a 3x3 'same' Conv2D with one input channel (a model's
// first layer on grey images): oneDNN's forward, the project's own weight gradient.
//
// oneDNN 2.6's AVX2 backward-weights (jit:avx2) spends ~3 ms per 128 MNIST images
// on the 58 MFLOP of this shape, for NHWC and NCHW sources alike; its kernels are
// blocked for many input channels. Here the weight gradient is
//   dw[ky][kx][0][k] = Σ_{n,y,x} x[n][y+ky-1][x+kx-1] · dy[n][y][x][k],  db[k] = Σ dy[n][y][x][k]
// with, per output pixel and block of 8 output channels, one load of dy and nine
// broadcast-FMAs into registers (AVX2 + FMA). The fused ReLU's backward (dy where
// y > 0, else 0) can be applied on the fly (backward_through_relu) instead of a
// separate pass over dy, which saves writing dy back and reading it again.
// Images are split statically over the OpenMP threads and the per-thread partial
// sums added in thread order: a run with the same thread count repeats bit for bit.
// The forward, and the data gradient when one is asked for, are oneDNN's (ConvPrimitives).
#pragma once

#include <string>
#include <vector>

#include "mnist_ddp/cpu/conv2d_primitives.hpp"
#include "mnist_ddp/cpu/conv_passes.hpp"

namespace mnist_ddp {

// True when this build has AVX2/FMA and `g` is a 3x3 'same' convolution of one
// input channel into a multiple of 8 output channels.
bool single_channel_conv_supports(const ConvGeometry& g);

class SingleChannelConv final : public ConvPasses {
 public:
  // `name`: the layer's, for the record of what ran (dnnl_info.hpp).
  SingleChannelConv(const ConvGeometry& g, int n, const std::string& name);
  void forward(const float* x, const float* w, const float* b, float* y) override;
  void backward(const float* x, const float* dy, float* dw, float* db, float* dx) override;
  // The own weight gradient with the ReLU's backward on the fly, when no dx is asked for.
  bool backward_through_relu(const float* x, const float* y, float* dy, float* dw, float* db,
                             float* dx) override;

 private:
  // dw, db from x and dy, dy masked by y > 0 when y is not null.
  void weight_gradient(const float* x, const float* y, const float* dy, float* dw, float* db);
  ConvGeometry g_;
  int n_;
  int threads_;
  ConvPrimitives direct_;       // forward and backward-data
  std::vector<float> scratch_;  // per thread: the padded image, then the dw and db partial sums
  std::size_t scratch_per_thread_ = 0;
};

}  // namespace mnist_ddp

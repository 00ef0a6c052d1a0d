// winograd_conv.hpp — a 3x3 'same' Conv2D by Winograd's algorithm, the project's own (CPU).
//
// oneDNN 2.6 offers Winograd only on AVX-512; on AVX2 its direct convolutions
// run near the sgemm ceiling, which caps the training step. Winograd's F(m x m,
// 3x3) (winograd_tiles.hpp) computes each m x m output tile from an (m+2)² input
// tile with (m+2)² multiplications per (input, output) channel pair instead of
// 9·m²: 2.25 per output for F(4x4, 3x3), against 9 for the direct convolution.
//
// The elementwise products over channels are small GEMMs, one per position ξ of
// the transformed tile: M_ξ (tiles x cout) = V_ξ (tiles x cin) · U_ξ (cin x cout).
// All three passes run on them:
//   forward          y  = conv(x, w) + b, ReLU fused;
//   backward-data    dx = conv(dy, w'), w' the kernel flipped with in/out swapped
//                    (the exact adjoint of a stride-1 'same' 3x3 convolution);
//   backward-weights dU_ξ = Σ_tiles V_ξᵀ · (A dY Aᵀ)_ξ, then dw = Gᵀ dU G — the
//                    gradient of the bilinear form, exact as it is; the ReLU's
//                    backward fused into its pass over dy.
// Tiles are taken in blocks small enough for the transformed block to stay in
// the core's L2; the blocks are split statically over the OpenMP threads and the
// weight-gradient partial sums added in thread order, so a run with the same
// thread count repeats bit for bit. NHWC activations, HWIO kernel, as the oneDNN path.
#pragma once

#include <string>
#include <vector>

#include "mnist_ddp/cpu/conv_passes.hpp"

namespace mnist_ddp {

// True when this build has the AVX2/FMA kernels and `g` is a 3x3 'same' convolution
// with a multiple of 16 input and of 16 output channels (the GEMM's 16-column
// register blocks, whose columns are the output channels forward and the input
// channels in the backward-data pass).
bool winograd_supports(const ConvGeometry& g);

class WinogradConv final : public ConvPasses {
 public:
  // `name`: the layer's, for the record of what ran (dnnl_info.hpp).
  WinogradConv(const ConvGeometry& g, int n, const std::string& name);
  void forward(const float* x, const float* w, const float* b, float* y) override;
  void backward(const float* x, const float* dy, float* dw, float* db, float* dx) override;
  // The ReLU's mask applied as the weight gradient's pass reads dy, and written
  // back: the backward-data pass then reads the masked dy. Always fuses.
  bool backward_through_relu(const float* x, const float* y, float* dy, float* dw, float* db, float* dx) override;

 private:
  ConvGeometry g_;
  int n_;
  const float* w_last_ = nullptr;  // the kernel of the last forward
  // dst (channels cd) = conv(src (channels cs), kernel transformed to u) + bias, ReLU when asked.
  void convolve(const float* src, int cs, const float* u, int cd, const float* bias, bool relu, float* dst);
  // dw (HWIO) and db from x and dy, overwritten. With relu_y: dy is first masked
  // where relu_y <= 0, in place (dy is then written, else only read).
  void weight_gradient(const float* x, float* dy, const float* relu_y, float* dw, float* db);
  // dx = conv(dy, flipped kernel) when dx is not null.
  void backward_data(const float* dy, float* dx);
  float* thread_scratch(int thread);
  std::vector<float> u_fwd_;       // G g Gᵀ of the kernel, [ξ][cin][cout]
  std::vector<float> u_bwd_;       // ... of the flipped, transposed kernel, [ξ][cout][cin]
  std::vector<float> du_;          // the weight gradient per ξ, [ξ][cin][cout], summed over the threads
  std::vector<float> scratch_;     // per thread: a V block, an M block, weight- and bias-gradient partials
  std::size_t scratch_per_thread_ = 0;
  int threads_ = 1;
};

}  // namespace mnist_ddp

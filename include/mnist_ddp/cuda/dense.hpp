// dense.hpp — fully connected layer with a fused activation, on the GPU (cuBLAS):
// Y(n×out) = X(n×in) · W(in×out) + b, W in Keras's (in, out) layout, as on the CPU.
//
// Row-major products become column-major cublasSgemm calls with the operands
// swapped (layout.hpp, row_major_gemm): forward Y = X·W, backward
// dW = Xᵀ·dY and dX = dY·Wᵀ. Bias: cublasSger with a vector of ones; its
// gradient: cublasSgemv. Activation: FusedActivation (cuDNN).
#pragma once

#include "mnist_ddp/cuda/activation.hpp"
#include "mnist_ddp/cuda/layer.hpp"
#include "mnist_ddp/cuda/raii.hpp"

namespace mnist_ddp::cuda {

class DenseCuda final : public CudaLayer {
 public:
  DenseCuda(const LayerLayout& layout, Activation act, CudaContext& ctx);
  void reserve(int max_batch) override;
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;

 private:
  int in_, out_;
  FusedActivation act_;
  BatchDescriptors y_desc_;  // (n, units, 1, 1)
};

}  // namespace mnist_ddp::cuda

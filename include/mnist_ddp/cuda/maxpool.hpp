// maxpool.hpp — MaxPooling2D, square window = stride, 'valid', on the GPU (cuDNN).
//
// cudnnPoolingForward/Backward in CUDNN_POOLING_MAX_DETERMINISTIC mode on NHWC
// tensors. Backward routes each output gradient to the maximum of its window
// (the CPU layer keeps the first maximum in scan order; the two agree whenever
// the maximum is unique, which the parity tests' random inputs make sure of).
// When the window does not divide the input (7 → 3 in the seed CNN) the last
// row/column belongs to no window; their gradient is zeroed explicitly.
#pragma once

#include "mnist_ddp/cuda/layer.hpp"
#include "mnist_ddp/cuda/raii.hpp"

namespace mnist_ddp::cuda {

class MaxPoolCuda final : public CudaLayer {
 public:
  MaxPoolCuda(const LayerLayout& layout, CudaContext& ctx);
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;

 private:
  int pool_;
  PoolingDescriptor pool_desc_;
  BatchDescriptors x_desc_, y_desc_;  // NHWC
};

}  // namespace mnist_ddp::cuda

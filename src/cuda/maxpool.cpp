// maxpool.cpp — MaxPooling2D through cuDNN.
#include "mnist_ddp/cuda/maxpool.hpp"

#include "mnist_ddp/cuda/layout.hpp"

namespace mnist_ddp::cuda {

MaxPoolCuda::MaxPoolCuda(const LayerLayout& layout, CudaContext& ctx)
    : CudaLayer(layout, ctx), pool_(layout.spec.kernel), x_desc_(layout.input, BatchDescriptors::View::kNhwc),
      y_desc_(layout.output, BatchDescriptors::View::kNhwc) {
  const std::string& name = layout.name;
  const Shape3 in = layout.input;
  const int pool = pool_;
  MNIST_ASSERT(pool > 0 && in.h >= pool && in.w >= pool, name << ": pool " << pool << " on " << in.h << "x" << in.w);
  // A NaN in a window gives NaN (not the window's largest number): it must surface
  // at the next finite check rather than vanish.
  MNIST_CUDNN_CHECK(cudnnSetPooling2dDescriptor(pool_desc_, CUDNN_POOLING_MAX_DETERMINISTIC, CUDNN_PROPAGATE_NAN, pool,
                                                pool, 0, 0, pool, pool));
}

void MaxPoolCuda::forward(const float* x, float* y, int n, const ForwardContext&) {
  const float one = 1.0f, zero = 0.0f;
  MNIST_CUDNN_CHECK(
      cudnnPoolingForward(context().cudnn(), pool_desc_, &one, x_desc_.get(n), x, &zero, y_desc_.get(n), y));
}

void MaxPoolCuda::backward(const float* x, const float* y, float* dy, float* dx, int n) {
  if (dx == nullptr) return;
  const float one = 1.0f;
  float beta = 0.0f;
  const Shape3 in = input_shape();
  if (in.h % pool_ != 0 || in.w % pool_ != 0) {
    // Inputs outside every window get no gradient: start from zero and accumulate.
    MNIST_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * static_cast<std::size_t>(n) * in.size(), stream()));
    beta = 1.0f;
  }
  cudnnTensorDescriptor_t xd = x_desc_.get(n), yd = y_desc_.get(n);
  MNIST_CUDNN_CHECK(
      cudnnPoolingBackward(context().cudnn(), pool_desc_, &one, yd, y, yd, dy, xd, x, &beta, xd, dx));
}

}  // namespace mnist_ddp::cuda

// activation.cpp — ReLU through cuDNN, in place.
#include "mnist_ddp/cuda/activation.hpp"

namespace mnist_ddp::cuda {

FusedActivation::FusedActivation(Activation act, CudaContext& ctx) : act_(act), ctx_(ctx) {
  MNIST_ASSERT(act == Activation::kLinear || act == Activation::kRelu,
               "the GPU layers fuse only linear and ReLU activations, not " << to_string(act));
  // A NaN stays NaN, as on the CPU (std::max(NaN, 0) is NaN): it must surface at the
  // next finite check, not turn into 0 and hide.
  MNIST_CUDNN_CHECK(cudnnSetActivationDescriptor(relu_, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
}

void FusedActivation::forward(cudnnTensorDescriptor_t desc, float* y) {
  if (linear()) return;
  const float one = 1.0f, zero = 0.0f;
  MNIST_CUDNN_CHECK(cudnnActivationForward(ctx_.cudnn(), relu_, &one, desc, y, &zero, desc, y));
}

void FusedActivation::backward(cudnnTensorDescriptor_t desc, const float* y, float* dy) {
  if (linear()) return;
  const float one = 1.0f, zero = 0.0f;
  // (y, dy, x, dx): the output stands in for the input, dx overwrites dy.
  MNIST_CUDNN_CHECK(cudnnActivationBackward(ctx_.cudnn(), relu_, &one, desc, y, desc, dy, desc, y, &zero, desc, dy));
}

}  // namespace mnist_ddp::cuda

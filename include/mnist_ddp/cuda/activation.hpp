// activation.hpp — the activation fused into Conv2D and Dense, on the GPU (cuDNN).
//
// The CPU layers apply ReLU inside Conv2D and Dense; so do the GPU ones, with
// cudnnActivationForward/Backward in place on the layer's output and its
// gradient. ReLU's derivative is read from the OUTPUT (y > 0 exactly when the
// pre-activation x > 0), which is all the layers keep, as on the CPU.
// kLinear does nothing. (The softmax of the last layer is fused into the loss.)
#pragma once

#include "mnist_ddp/cuda/context.hpp"
#include "mnist_ddp/cuda/raii.hpp"
#include "mnist_ddp/nn/spec.hpp"

namespace mnist_ddp::cuda {

class FusedActivation {
 public:
  FusedActivation(Activation act, CudaContext& ctx);

  bool linear() const { return act_ == Activation::kLinear; }
  // y = act(y) in place; `desc` describes y (any layout: the operation is element-wise).
  void forward(cudnnTensorDescriptor_t desc, float* y);
  // dy = dy · act'(y) in place, y the output of forward().
  void backward(cudnnTensorDescriptor_t desc, const float* y, float* dy);

 private:
  Activation act_;
  CudaContext& ctx_;
  ActivationDescriptor relu_;
};

}  // namespace mnist_ddp::cuda

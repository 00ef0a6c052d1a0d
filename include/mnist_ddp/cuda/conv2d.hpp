// conv2d.hpp — Conv2D, 'same' padding, stride 1, fused activation, on the GPU (cuDNN).
//
// Tensors are NHWC, as on the CPU. The kernel is stored in Keras's layout
// (kh, kw, cin, cout) in the model's flat buffer; cuDNN's NHWC filter layout is
// (cout, kh, kw, cin), so each forward transposes the kernel into a scratch
// filter (cublasSgeam; 74k floats at most for the seed CNN) and each backward
// transposes the filter gradient back. Bias: cublasSger with a vector of ones;
// its gradient: cublasSgemv. Activation: FusedActivation (cuDNN).
//
// Algorithms are chosen per batch size, once, on first use (training batch,
// last batch, evaluation batch): measured with cudnnFind*Algorithm or taken
// from cudnnGet*Algorithm_v7 (CudaOptions::conv_search), among those whose
// workspace fits CudaOptions::workspace_limit, FMA kernels only unless TF32 is
// allowed, and deterministic ones first when CudaOptions::deterministic
// (algo_choice.hpp: a pure function of cuDNN's list). A candidate that answers
// NOT_SUPPORTED (workspace query or call) gives way to the next. The
// workspace is reserved in the shared context workspace at that point.
//
// cuDNN 9 marks this (legacy) convolution API deprecated in favour of its graph
// API, but supports it fully; it is the one with algorithm search and a
// stable C interface, and all this layer needs.
#pragma once

#include <map>
#include <string>

#include "mnist_ddp/cuda/activation.hpp"
#include "mnist_ddp/cuda/algo_choice.hpp"
#include "mnist_ddp/cuda/layer.hpp"
#include "mnist_ddp/cuda/raii.hpp"

namespace mnist_ddp::cuda {

class Conv2DCuda final : public CudaLayer {
 public:
  Conv2DCuda(const LayerLayout& layout, Activation act, CudaContext& ctx);
  void reserve(int max_batch) override;
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;
  std::string describe() const override;

 private:
  // One direction's choice for a batch size (algo_choice.hpp), with its fallbacks.
  using Choice = AlgoChoice;
  struct Plan {
    Choice fwd, bwd_data, bwd_filter;
  };
  std::size_t kernel_count() const { return static_cast<std::size_t>(k_) * k_ * cin_ * cout_; }
  Plan& plan(int n);
  void choose_forward(int n, Plan& p);
  void choose_backward_filter(int n, Plan& p);
  void choose_backward_data(int n, Plan& p);
  // Sets the convolution descriptor's math type for a chosen algorithm.
  void use_math(cudnnMathType_t math);
  // cuDNN's workspace query of one direction for batch n and `algo` (the math type set).
  cudnnStatus_t forward_workspace(int n, int algo, std::size_t* bytes);
  cudnnStatus_t backward_data_workspace(int n, int algo, std::size_t* bytes);
  cudnnStatus_t backward_filter_workspace(int n, int algo, std::size_t* bytes);

  int k_, cin_, cout_;
  FusedActivation act_;
  DeviceBuffer<float> filter_, dfilter_;                                // cuDNN layout (cout, kh, kw, cin)
  BatchDescriptors x_desc_, y_desc_;  // NHWC with N = n, for the convolutions and the activation
  FilterDescriptor filter_desc_;
  ConvolutionDescriptor conv_desc_;
  std::map<int, Plan> plans_;
  int max_batch_ = 0;
};

}  // namespace mnist_ddp::cuda

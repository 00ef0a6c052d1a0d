// batchnorm.hpp — BatchNormalization over all axes but the channel, on the GPU.
//
// The CPU layer's semantics (cpu/batchnorm.hpp) with cuDNN doing the work:
//  - the NHWC batch is given to cuDNN as a 4-D NHWC tensor with N = the batch
//    (layout.hpp: layer_tensor_view): spatial mode reduces each channel over
//    N, H and W, exactly the CPU layer's sums (after Dense, h = w = 1:
//    per-activation). Not as the (n·h·w, c) matrix it also is: cuDNN's
//    inference refuses N above 65,535, and n·h·w is 392,000 at the
//    evaluation batch of 500 on 28×28.
//  - training: cudnnBatchNormalizationForwardTraining normalises with the
//    batch mean and biased variance and saves the mean and 1/sqrt(var + eps)
//    for backward.
//  - moving averages: NOT cuDNN's (it averages the unbiased variance, with a
//    fixed factor): cuDNN is asked for no running update, and a small kernel
//    applies the CPU rule, moving = moving·m + batch·(1 - m) with
//    m = debiased_momentum(momentum, step) (or the context's bn_momentum), to
//    the saved statistics (nn/batchnorm_math.hpp). m is computed on the host and
//    passed by value: no synchronisation.
//  - a training batch of a single row per channel (after Dense, a last batch of
//    one sample): variance 0, y = β; done by a small kernel rather than asking
//    cuDNN for statistics of one value.
//  - inference: cudnnBatchNormalizationForwardInference with the moving averages.
//  - backward after a training forward: cudnnBatchNormalizationBackward with
//    the saved statistics; after an inference forward (the statistics are then
//    constants): an own kernel, as cuDNN has no such mode.
//  - --sync-bn (set_sync, training mode only): cuDNN's fused training calls
//    have no point between the statistics and their use, so own kernels do the
//    CPU layer's steps: per-channel Σx, Σx² and the row count in double (one
//    block per channel, a fixed-order tree: cuda/block_sum.hpp) → sum over the
//    ranks (cuda/nccl_batchnorm_sync.hpp) → mean, invstd, the moving averages,
//    y = x·scale + shift; backward: Σdy, Σdy·x̂ (this rank's are dβ, dγ: the
//    gradient reducer averages them) → sum over the ranks → dx with the global
//    means. Every formula is the CPU layer's, from nn/batchnorm_math.hpp.
#pragma once

#include "mnist_ddp/cuda/layer.hpp"
#include "mnist_ddp/cuda/nccl_batchnorm_sync.hpp"
#include "mnist_ddp/cuda/raii.hpp"

namespace mnist_ddp::cuda {

class BatchNormCuda final : public CudaLayer {
 public:
  BatchNormCuda(const LayerLayout& layout, CudaContext& ctx);
  void reserve(int max_batch) override;
  void forward(const float* x, float* y, int n, const ForwardContext& ctx) override;
  void backward(const float* x, const float* y, float* dy, float* dx, int n) override;
  // --sync-bn: training statistics over all ranks (any number, one included); null: this rank's (cuDNN).
  void set_sync(NcclBatchNormSync* sync) { sync_ = sync; }

 private:
  void forward_synchronised(const float* x, float* y, std::size_t rows, const ForwardContext& ctx);
  void backward_synchronised(const float* x, const float* dy, float* dx, std::size_t rows);

  int c_;
  float eps_, momentum_;
  DeviceBuffer<float> save_mean_, save_invstd_;  // (c) of the last training batch
  DeviceBuffer<double> sums_;                    // (2c + 1) --sync-bn: [Σa | Σb | rows], summed over the ranks
  DeviceBuffer<float> scale_, shift_;            // (c) --sync-bn: the forward's affine map
  NcclBatchNormSync* sync_ = nullptr;
  DeviceBuffer<float> dx_scratch_;               // cuDNN always writes dx: where it goes for the first layer
  BatchDescriptors x_desc_;                      // (n, c, h, w) with NHWC strides
  TensorDescriptor param_desc_;                  // (1, c, 1, 1)
  bool last_training_ = false;
  int max_batch_ = 0;
};

// ---- kernels of this layer (batchnorm.cu) ------------------------------------------------

// moving_{mean,var}[j] = moving·m + batch·(1 - m) from cuDNN's saved mean and inverse std.
void batchnorm_moving_update(float* moving_mean, float* moving_var, const float* save_mean,
                             const float* save_invstd, int c, float epsilon, float momentum, cudaStream_t stream);

// Backward of y = x·γ/sqrt(v + ε) + (β - m·γ/sqrt(v + ε)) with the moving m, v as
// constants: dβ = Σ dy, dγ = Σ dy·(x - m)/sqrt(v + ε), dx = dy·γ/sqrt(v + ε) (dx may be null).
// x, dy, dx: (rows, c) row-major.
void batchnorm_inference_backward(const float* x, const float* dy, float* dx, std::size_t rows, int c,
                                  const float* gamma, const float* moving_mean, const float* moving_var, float epsilon,
                                  float* dgamma, float* dbeta, cudaStream_t stream);

}  // namespace mnist_ddp::cuda

// context.hpp — what every GPU layer of one rank shares.
//
// One CudaContext per process (per rank): the device it drives, the compute
// stream on which every kernel and library call of the model is queued in
// order, a cuDNN and a cuBLAS handle bound to that stream, one workspace that
// all cuDNN calls share (they run one after another on the stream), and a
// vector of ones for bias broadcasts and column sums with cuBLAS.
//
// Precision. FP32 everywhere. By default TensorFloat-32 is off (cuDNN
// CUDNN_FMA_MATH, cuBLAS CUBLAS_DEFAULT_MATH): results then differ from the
// CPU backend only by summation order, which the parity tests rely on.
// CudaOptions::tf32 allows TF32 tensor cores in convolutions and GEMMs
// (10-bit mantissa products, FP32 accumulation) for speed.
//
// Convolution algorithms are chosen once per layer (see conv2d.hpp): by
// measuring them (cudnnFind*, the default) or by cuDNN's heuristics
// (cudnnGet*_v7, reproducible from run to run), among those that need at most
// `workspace_limit` bytes, preferring deterministic ones.
#pragma once

#include <cstddef>
#include <string>

#include "mnist_ddp/cuda/raii.hpp"

namespace mnist_ddp::cuda {

enum class ConvAlgoSearch { kMeasure, kHeuristic };

struct CudaOptions {
  bool tf32 = false;
  ConvAlgoSearch conv_search = ConvAlgoSearch::kMeasure;
  std::size_t workspace_limit = std::size_t{256} << 20;  // bytes, per convolution call
  bool deterministic = true;  // refuse non-deterministic cuDNN algorithms when a deterministic one fits
};

class CudaContext {
 public:
  // Makes `device` current for this thread and creates the stream and handles on it.
  explicit CudaContext(int device, const CudaOptions& options = {});
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const { return device_; }
  const CudaOptions& options() const { return options_; }
  cudaStream_t stream() const { return stream_.get(); }
  cudnnHandle_t cudnn() const { return cudnn_.get(); }
  cublasHandle_t cublas() const { return cublas_.get(); }
  cudnnMathType_t cudnn_math() const { return options_.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }

  // The shared cuDNN workspace. reserve_workspace() grows it (never shrinks);
  // growing waits for the stream, so call it while setting up, not per step.
  void reserve_workspace(std::size_t bytes);
  void* workspace() { return workspace_.data(); }
  std::size_t workspace_size() const { return workspace_.bytes(); }

  // A device vector of at least `count` ones (grows like the workspace).
  const float* ones(std::size_t count);

  // Waits for all work queued on the compute stream.
  void synchronize() const { stream_.synchronize(); }

  // "NVIDIA H100 80GB HBM3 (device 0, sm_90, 79.1 GiB), CUDA runtime 13.0, driver 13.0,
  //  cuDNN 9.19.0, cuBLAS 13.0.0, TF32 off"
  std::string description() const;

 private:
  int device_;
  CudaOptions options_;
  Stream stream_;
  CudnnHandle cudnn_;
  CublasHandle cublas_;
  DeviceBuffer<unsigned char> workspace_;
  DeviceBuffer<float> ones_;
};

}  // namespace mnist_ddp::cuda

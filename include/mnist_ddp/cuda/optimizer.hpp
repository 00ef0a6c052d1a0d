// optimizer.hpp — Adam, RMSprop and SGD with momentum on the GPU.
//
// The sibling of mnist_ddp::Optimizer (nn/optimizer.hpp): the same
// hyper-parameters, the same slot layout (first moments, then second moments
// where the method has them, each in the flat parameter order), the same
// iteration count and the same per-element arithmetic (nn/optimizer_math.hpp).
// The bias-corrected Adam step size is computed on the host from the iteration
// count, exactly as the CPU optimizer computes it, and passed by value to the
// kernel: a step costs one kernel launch and no synchronisation.
#pragma once

#include <cstdint>
#include <vector>

#include "mnist_ddp/cuda/raii.hpp"
#include "mnist_ddp/nn/optimizer.hpp"

namespace mnist_ddp::cuda {

class CudaOptimizer {
 public:
  CudaOptimizer(const OptimizerHyper& hyper, std::size_t count);

  // One update of params (device) from grads (device), queued on `stream`.
  void step(float* params, const float* grads, double lr, cudaStream_t stream);

  const OptimizerHyper& hyper() const { return hyper_; }
  std::int64_t iterations() const { return iterations_; }
  void set_iterations(std::int64_t t) { iterations_ = t; }

  // The slots as the CPU Optimizer holds them (checkpoints): synchronous copies.
  std::vector<float> download_slots() const;
  void upload_slots(const std::vector<float>& slots);
  std::size_t slot_count() const { return slots_.size(); }

 private:
  OptimizerHyper hyper_;
  std::size_t count_;
  std::int64_t iterations_ = 0;
  DeviceBuffer<float> slots_;
};

}  // namespace mnist_ddp::cuda

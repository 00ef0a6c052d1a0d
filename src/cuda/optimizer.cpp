// optimizer.cpp — the GPU optimizer: host-side hyper-parameters, one kernel per step.
#include "mnist_ddp/cuda/optimizer.hpp"

#include "mnist_ddp/cuda/kernels.hpp"
#include "mnist_ddp/nn/optimizer_math.hpp"

namespace mnist_ddp::cuda {

CudaOptimizer::CudaOptimizer(const OptimizerHyper& hyper, std::size_t count)
    : hyper_(hyper), count_(count), slots_(count * optimizer_slots_per_parameter(hyper.kind)) {
  const std::vector<float> zeros(slots_.size(), 0.0f);
  if (!zeros.empty()) slots_.upload(zeros.data(), zeros.size());
}

void CudaOptimizer::step(float* params, const float* grads, double lr, cudaStream_t stream) {
  ++iterations_;
  float* s0 = slots_.data();
  switch (hyper_.kind) {
    case OptimizerKind::kAdam:
      adam_step(params, grads, s0, s0 + count_, count_,
                adam_hyper(lr, hyper_.beta1, hyper_.beta2, hyper_.epsilon, static_cast<double>(iterations_)), stream);
      break;
    case OptimizerKind::kRmsprop:
      rmsprop_step(params, grads, s0, count_, static_cast<float>(lr), static_cast<float>(hyper_.rho),
                   static_cast<float>(hyper_.epsilon), stream);
      break;
    case OptimizerKind::kSgd:
      sgd_momentum_step(params, grads, s0, count_, static_cast<float>(lr), static_cast<float>(hyper_.momentum),
                        stream);
      break;
  }
}

std::vector<float> CudaOptimizer::download_slots() const {
  std::vector<float> host(slots_.size());
  if (!host.empty()) slots_.download(host.data(), host.size());
  return host;
}

void CudaOptimizer::upload_slots(const std::vector<float>& slots) {
  MNIST_CHECK(slots.size() == slots_.size(), InputError,
              "optimizer state has " << slots.size() << " values, the " << to_string(hyper_.kind) << " optimizer needs "
                                     << slots_.size() << " (was it saved with another --optimizer?)");
  if (!slots.empty()) slots_.upload(slots.data(), slots.size());
}

}  // namespace mnist_ddp::cuda

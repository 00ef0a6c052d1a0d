// cpu_step_backend.hpp — the training step on the CPU (train/step_backend.hpp;
// its sibling is cuda/cuda_step_backend.hpp): the host Model itself, OpenMP
// batch assembly, the softmax cross-entropy of nn/loss.hpp, the gradient
// reducer (train/gradient_reducer.hpp) over the host communicator and the CPU
// Optimizer. Every step is a sync point: the sums are plain host values.
#pragma once

#include <functional>
#include <vector>

#include <memory>

#include "mnist_ddp/dist/batchnorm_sync.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/dist/host_gradient_transport.hpp"
#include "mnist_ddp/train/gradient_reducer.hpp"
#include "mnist_ddp/train/step_backend.hpp"

namespace mnist_ddp {

class CpuStepBackend final : public StepBackend {
 public:
  // The model must hold batches of settings.max_batch.
  CpuStepBackend(const StepSettings& settings, Communicator& comm, Model& model);

  const char* name() const override { return "cpu"; }
  void upload(const Model& model, const Optimizer* optimizer) override;
  void download(Model& model, Optimizer* optimizer) override;
  void load_batch(const MnistSet& set, const std::vector<std::int64_t>& ids, std::uint32_t epoch,
                  bool augment) override;
  using StepBackend::forward_backward;
  void forward_backward(int n, const ForwardContext& ctx, const MicroBatch& micro) override;
  const GradientReducer& reducer() const { return reducer_; }
  void reduce_gradients() override;
  void optimizer_step(Optimizer& optimizer, double lr) override;
  int sync_interval() const override { return 1; }
  LossSums take_sums() override;
  bool gradients_finite() override;
  bool weights_finite() override;
  void forward_statistics(int n, const ForwardContext& ctx) override;
  void evaluate_batch(int n) override;
  double take_evaluation(ConfusionMatrix& confusion) override;

 private:
  StepSettings settings_;
  Model& model_;
  std::unique_ptr<HostGradientTransport> transport_;  // null for one rank
  std::unique_ptr<BatchNormSync> bn_sync_;            // --sync-bn on several ranks
  GradientReducer reducer_;
  std::function<void(std::size_t)> on_layer_done_;
  std::vector<float> x_;               // (batch, 28, 28, 1)
  std::vector<std::uint8_t> y_;        // (batch)
  std::vector<float> dlogits_;         // (batch, classes)
  std::vector<std::uint8_t> predictions_;  // (batch)
  std::vector<float> accumulated_;     // --accumulate: the update's gradients before its last micro-batch
  LossSums sums_;
  double eval_loss_ = 0;
  ConfusionMatrix eval_confusion_;
};

}  // namespace mnist_ddp

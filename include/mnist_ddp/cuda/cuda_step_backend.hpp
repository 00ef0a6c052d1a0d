// cuda_step_backend.hpp — the training step on one GPU per rank (train/step_backend.hpp).
//
// Data: each MNIST set the trainer uses is copied to the device once, as bytes
// (images and labels); a batch is then only its sample ids, copied from a small
// ring of pinned host buffers, and one kernel gathers, augments and normalises
// the images (cuda/kernels.hpp, the MNIST_HD functions of data/augment.hpp).
//
// A step is queued on the context's compute stream without any host wait:
// gather → CudaModel forward → softmax cross-entropy (loss and correct count
// added to device accumulators) → backward → gradient mean over the ranks with
// NCCL on its own stream (the CPU's GradientReducer over an NCCL transport:
// --bucket-kb; each bucket starts when backward has queued its layers; the
// compute stream waits on an event before the update) → CudaOptimizer. One rank: no NCCL at all.
// --sync-bn on several ranks: the BatchNorm layers' statistics sums go over the same NCCL
// stream during forward and backward (cuda/nccl_batchnorm_sync.hpp).
//
// The host waits only at sync points: every kSyncInterval steps (progress
// display, non-finite checks: the loss sums since the previous sync point, the
// reduced gradients and the weights are checked there), at the end of an epoch
// and at the host copies. Every wait goes through NcclCommunicator::synchronize,
// which aborts NCCL and throws after --comm-timeout instead of hanging on a dead
// peer. Host timings of a step (data, compute, communication in the report)
// therefore measure queueing except at sync points.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mnist_ddp/cuda/context.hpp"
#include "mnist_ddp/cuda/model.hpp"
#include "mnist_ddp/cuda/nccl_batchnorm_sync.hpp"
#include "mnist_ddp/cuda/nccl_communicator.hpp"
#include "mnist_ddp/cuda/nccl_gradient_transport.hpp"
#include "mnist_ddp/cuda/optimizer.hpp"
#include "mnist_ddp/cuda/raii.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/train/gradient_reducer.hpp"
#include "mnist_ddp/train/step_backend.hpp"

namespace mnist_ddp::cuda {

class CudaStepBackend final : public StepBackend {
 public:
  static constexpr int kSyncInterval = 50;  // steps between host reads of the sums
  static constexpr int kIdRing = 8;         // pinned id buffers: how far the host may run ahead

  // Drives `device` (bound to this thread by the caller). `host` gives the
  // architecture and the batch capacity; its weights come with upload().
  // Collective over `comm` when it has more than one rank (NCCL bootstrap).
  CudaStepBackend(const StepSettings& settings, Communicator& comm, Model& host, int device);
  ~CudaStepBackend() override;

  // "NVIDIA H100 ... cuDNN 9.19.0 ...; NCCL 2.28.9 over 4 ranks, 3 buckets" and the layers.
  std::string description() const;

  const char* name() const override { return "cuda"; }
  void upload(const Model& model, const Optimizer* optimizer) override;
  void download(Model& model, Optimizer* optimizer) override;
  void load_batch(const MnistSet& set, const std::vector<std::int64_t>& ids, std::uint32_t epoch,
                  bool augment) override;
  using StepBackend::forward_backward;
  void forward_backward(int n, const ForwardContext& ctx, const MicroBatch& micro) override;
  void reduce_gradients() override;
  void optimizer_step(Optimizer& optimizer, double lr) override;
  int sync_interval() const override { return kSyncInterval; }
  LossSums take_sums() override;
  bool gradients_finite() override;
  bool weights_finite() override;
  void forward_statistics(int n, const ForwardContext& ctx) override;
  void evaluate_batch(int n) override;
  double take_evaluation(ConfusionMatrix& confusion) override;

 private:
  // An MNIST set on the device, keyed by its host storage.
  struct DeviceSet {
    const std::uint8_t* host_images;
    const std::uint8_t* host_labels;
    std::int64_t count;
    int rows, cols;
    DeviceBuffer<std::uint8_t> images;  // (count, rows, cols)
    DeviceBuffer<std::uint8_t> labels;  // (count)
  };
  const DeviceSet& device_set(const MnistSet& set);
  CudaOptimizer& optimizer_for(const Optimizer& host);
  // Host waits for the compute stream, or for an event, watched (see the header).
  void wait(const char* what);
  void wait(const Event& event, const char* what);
  bool finite(const float* values, std::size_t count, const char* what);

  StepSettings settings_;
  CudaContext ctx_;
  CudaModel model_;
  std::optional<CudaOptimizer> optimizer_;       // made at the first upload or step (needs the hyper-parameters)
  std::unique_ptr<NcclCommunicator> nccl_;       // null for one rank
  std::unique_ptr<NcclGradientTransport> transport_;  // over nccl_; null for one rank
  std::unique_ptr<GradientReducer> reducer_;     // made once the transport is
  std::unique_ptr<NcclBatchNormSync> bn_sync_;   // --sync-bn on several ranks, over nccl_
  std::function<void(std::size_t)> on_layer_done_;
  std::vector<DeviceSet> sets_;

  DeviceBuffer<float> x_;                   // (max_batch, 28, 28, 1)
  DeviceBuffer<std::uint8_t> y_;            // (max_batch)
  DeviceBuffer<float> dlogits_;             // (max_batch, classes)
  DeviceBuffer<float> accumulated_;         // --accumulate: the update's gradients before its last micro-batch
  DeviceBuffer<std::int64_t> ids_;          // (max_batch) the loaded batch's sample ids
  PinnedBuffer<std::int64_t> id_ring_;      // (kIdRing, max_batch) sources of the id copies
  std::vector<Event> id_copied_;            // (kIdRing) recorded after each slot's copy
  std::size_t id_slot_ = 0;

  // Device accumulators. losses_: [0] training loss sum, [1] evaluation loss sum;
  // counts_: [0] training correct, [1] evaluation correct, [2, 102) the evaluation
  // confusion matrix [true][predicted]; nonfinite_: the flag of flag_nonfinite().
  DeviceBuffer<double> losses_;
  DeviceBuffer<unsigned long long> counts_;
  DeviceBuffer<unsigned int> nonfinite_;
  PinnedBuffer<double> host_losses_;
  PinnedBuffer<unsigned long long> host_counts_;
  PinnedBuffer<unsigned int> host_flag_;
  int max_batch_;
};

}  // namespace mnist_ddp::cuda

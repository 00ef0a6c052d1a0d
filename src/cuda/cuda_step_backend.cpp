// cuda_step_backend.cpp — the GPU training step: device data, NCCL buckets, sync points.
#include "mnist_ddp/cuda/cuda_step_backend.hpp"

#include <algorithm>
#include <exception>
#include <sstream>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cuda/batchnorm.hpp"
#include "mnist_ddp/cuda/check.hpp"
#include "mnist_ddp/cuda/finite_check.hpp"
#include "mnist_ddp/cuda/kernels.hpp"
#include "mnist_ddp/data/augment.hpp"

namespace mnist_ddp::cuda {

namespace {

constexpr std::size_t kTrainLoss = 0, kEvalLoss = 1;                        // in losses_
constexpr std::size_t kTrainCorrect = 0, kEvalCorrect = 1, kConfusion = 2;  // in counts_
constexpr std::size_t kCounts = kConfusion + kNumClasses * kNumClasses;

}  // namespace

CudaStepBackend::CudaStepBackend(const StepSettings& settings, Communicator& comm, Model& host, int device)
    : settings_(settings),
      ctx_(device),
      model_(host.specs(), host.input_shape(), host.max_batch(), ctx_),
      max_batch_(host.max_batch()) {
  MNIST_ASSERT(settings.max_batch <= max_batch_,
               "model built for batches of " << max_batch_);
  const std::size_t image = host.input_shape().size();
  x_.reset(static_cast<std::size_t>(max_batch_) * image);
  y_.reset(static_cast<std::size_t>(max_batch_));
  dlogits_.reset(static_cast<std::size_t>(max_batch_) * host.num_outputs());
  ids_.reset(static_cast<std::size_t>(max_batch_));
  id_ring_ = PinnedBuffer<std::int64_t>(static_cast<std::size_t>(kIdRing) * max_batch_);
  id_copied_.resize(kIdRing);
  losses_.reset(2);
  counts_.reset(kCounts);
  nonfinite_.reset(1);
  host_losses_ = PinnedBuffer<double>(2);
  host_counts_ = PinnedBuffer<unsigned long long>(kCounts);
  host_flag_ = PinnedBuffer<unsigned int>(1);
  losses_.zero(ctx_.stream());
  counts_.zero(ctx_.stream());

  if (comm.size() > 1) {
    nccl_ = std::make_unique<NcclCommunicator>(comm, settings.comm_timeout);
    transport_ = std::make_unique<NcclGradientTransport>(*nccl_, ctx_.stream());
  }
  if (settings.sync_bn && nccl_) {  // --sync-bn: every BatchNorm's statistics over the ranks, on NCCL
    bn_sync_ = std::make_unique<NcclBatchNormSync>(*nccl_, ctx_.stream());
    for (auto& layer : model_.layers())
      if (auto* bn = dynamic_cast<BatchNormCuda*>(layer.get())) bn->set_sync(bn_sync_.get());
  }
  // The CPU path's reducer and bucket plan (whole layers, from the last one), on the same flat offsets.
  reducer_ = std::make_unique<GradientReducer>(transport_.get(), model_.layout(), model_.grads(), settings.bucket_bytes);
  on_layer_done_ = reducer_->layer_callback();
}

CudaStepBackend::~CudaStepBackend() {
  // Nothing may still use the buffers when they are freed (a clean end only:
  // after an error the device is left to the process's exit).
  if (std::uncaught_exceptions() == 0 && (nccl_ == nullptr || !nccl_->aborted()))
    MNIST_CUDA_WARN(cudaStreamSynchronize(ctx_.stream()));
}

std::string CudaStepBackend::description() const {
  std::ostringstream s;
  s << ctx_.description() << "; ";
  if (nccl_)
    s << "NCCL " << NcclCommunicator::library_version() << " over " << nccl_->size() << " ranks, "
      << (reducer_->buckets().empty() ? std::string("one all-reduce after backward")
                                      : std::to_string(reducer_->buckets().size()) + " gradient buckets");
  else
    s << "one rank (no NCCL)";
  if (bn_sync_) s << "; --sync-bn: BatchNorm statistics over NCCL";
  s << "; host reads every " << kSyncInterval << " steps\n" << model_.describe();
  return s.str();
}

void CudaStepBackend::wait(const char* what) {
  if (nccl_)
    nccl_->synchronize(ctx_.stream(), what);
  else
    ctx_.synchronize();  // one process: no peer to wait for
}

void CudaStepBackend::wait(const Event& event, const char* what) {
  if (nccl_)
    nccl_->wait(event, what);
  else
    event.synchronize();
}

void CudaStepBackend::upload(const Model& model, const Optimizer* optimizer) {
  wait("the last step before a weight upload");  // no kernel may still read the weights
  model_.upload(model);
  if (optimizer != nullptr) {
    CudaOptimizer& o = optimizer_for(*optimizer);
    o.upload_slots(optimizer->slots());
    o.set_iterations(optimizer->iterations());
  }
  // The synchronous copies ran on the legacy stream, which our non-blocking
  // stream does not wait for: make sure they have landed.
  MNIST_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
}

void CudaStepBackend::download(Model& model, Optimizer* optimizer) {
  wait("the GPU work before a weight download");
  model_.download(model);
  if (optimizer != nullptr) {
    CudaOptimizer& o = optimizer_for(*optimizer);
    optimizer->slots() = o.download_slots();
    optimizer->set_iterations(o.iterations());
  }
}

CudaOptimizer& CudaStepBackend::optimizer_for(const Optimizer& host) {
  if (!optimizer_) {
    optimizer_.emplace(host.hyper(), model_.param_count());
    MNIST_ASSERT(optimizer_->slot_count() == host.slots().size(),
                 "GPU optimizer has " << optimizer_->slot_count() << " slots, the host one " << host.slots().size());
  }
  return *optimizer_;
}

const CudaStepBackend::DeviceSet& CudaStepBackend::device_set(const MnistSet& set) {
  for (const DeviceSet& d : sets_)
    if (d.host_images == set.images.data() && d.host_labels == set.labels.data() && d.count == set.count) return d;
  MNIST_ASSERT(set.images.size() == static_cast<std::size_t>(set.count) * set.image_size() &&
                   set.labels.size() == static_cast<std::size_t>(set.count),
               "inconsistent MNIST set of " << set.count << " images");
  // Copied once per set and kept (the trainer's sets live for the whole run).
  DeviceSet d{set.images.data(), set.labels.data(), set.count, set.rows, set.cols,
              DeviceBuffer<std::uint8_t>(set.images.size()), DeviceBuffer<std::uint8_t>(set.labels.size())};
  d.images.upload(set.images.data(), set.images.size());
  d.labels.upload(set.labels.data(), set.labels.size());
  MNIST_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
  sets_.push_back(std::move(d));
  return sets_.back();
}

void CudaStepBackend::load_batch(const MnistSet& set, const std::vector<std::int64_t>& ids, std::uint32_t epoch,
                                 bool augment) {
  const int n = static_cast<int>(ids.size());
  MNIST_ASSERT(n > 0 && n <= max_batch_, "batch of " << n << " for a model of " << max_batch_);
  const DeviceSet& d = device_set(set);
  // The ids go through a ring of pinned buffers: a slot is rewritten only once
  // its previous copy has run, which waits only if the host is kIdRing steps ahead.
  Event& copied = id_copied_[id_slot_];
  if (!copied.done()) wait(copied, "a batch's sample ids");
  std::int64_t* slot = id_ring_.data() + id_slot_ * static_cast<std::size_t>(max_batch_);
  std::copy(ids.begin(), ids.end(), slot);
  MNIST_CUDA_CHECK(cudaMemcpyAsync(ids_.data(), slot, n * sizeof(std::int64_t), cudaMemcpyHostToDevice, ctx_.stream()));
  copied.record(ctx_.stream());
  id_slot_ = (id_slot_ + 1) % kIdRing;
  gather_batch(d.images.data(), d.labels.data(), d.rows, d.cols, ids_.data(), n, augment, settings_.seed, epoch,
               AugmentRanges{}, x_.data(), y_.data(), ctx_.stream());
}

void CudaStepBackend::forward_backward(int n, const ForwardContext& ctx, const MicroBatch& micro) {
  ForwardContext device_ctx = ctx;
  device_ctx.sample_ids = ids_.data();  // the dropout masks of these samples, on the device
  const float* logits = model_.forward(x_.data(), n, device_ctx);
  const LossAccumulators acc{losses_.data() + kTrainLoss, counts_.data() + kTrainCorrect, nullptr};
  const int update = micro.update_size > 0 ? micro.update_size : n;
  softmax_cross_entropy(logits, y_.data(), n, model_.num_outputs(), dlogits_.data(),
                        1.0f / static_cast<float>(update), acc, nullptr, ctx_.stream());
  if (micro.first && micro.last) {  // one micro-batch per update: reductions overlap backward
    model_.backward(dlogits_.data(), n, on_layer_done_);
    return;
  }
  // Accumulation (the CPU backend's steps, on the stream): backward without
  // the reducer, the gradients summed in accumulated_, the buckets started after the last.
  model_.backward(dlogits_.data(), n, {});
  const std::size_t count = model_.layout().param_count();
  const float one = 1.0f;
  if (micro.first) {
    if (accumulated_.size() != count) accumulated_.reset(count);
    MNIST_CUDA_CHECK(cudaMemcpyAsync(accumulated_.data(), model_.grads(), count * sizeof(float),
                                     cudaMemcpyDeviceToDevice, ctx_.stream()));
  } else if (!micro.last) {
    MNIST_CUBLAS_CHECK(cublasSaxpy(ctx_.cublas(), static_cast<int>(count), &one, model_.grads(), 1,
                                   accumulated_.data(), 1));
  } else {
    MNIST_CUBLAS_CHECK(cublasSaxpy(ctx_.cublas(), static_cast<int>(count), &one, accumulated_.data(), 1,
                                   model_.grads(), 1));
    reducer_->all_layers_done(model_.layout().size());
  }
}

void CudaStepBackend::reduce_gradients() { reducer_->finish(); }

void CudaStepBackend::optimizer_step(Optimizer& optimizer, double lr) {
  CudaOptimizer& o = optimizer_for(optimizer);
  o.set_iterations(optimizer.iterations());
  o.step(model_.params(), model_.grads(), lr, ctx_.stream());
  optimizer.set_iterations(o.iterations());  // the host count drives BatchNorm's debiasing and Adam's
}

LossSums CudaStepBackend::take_sums() {
  MNIST_CUDA_CHECK(cudaMemcpyAsync(host_losses_.data() + kTrainLoss, losses_.data() + kTrainLoss, sizeof(double),
                                   cudaMemcpyDeviceToHost, ctx_.stream()));
  MNIST_CUDA_CHECK(cudaMemcpyAsync(host_counts_.data() + kTrainCorrect, counts_.data() + kTrainCorrect,
                                   sizeof(unsigned long long), cudaMemcpyDeviceToHost, ctx_.stream()));
  MNIST_CUDA_CHECK(cudaMemsetAsync(losses_.data() + kTrainLoss, 0, sizeof(double), ctx_.stream()));
  MNIST_CUDA_CHECK(cudaMemsetAsync(counts_.data() + kTrainCorrect, 0, sizeof(unsigned long long), ctx_.stream()));
  wait("the training loss");
  LossSums s;
  s.loss = host_losses_[kTrainLoss];
  s.correct = static_cast<std::int64_t>(host_counts_[kTrainCorrect]);
  return s;
}

bool CudaStepBackend::finite(const float* values, std::size_t count, const char* what) {
  nonfinite_.zero(ctx_.stream());
  flag_nonfinite(values, count, nonfinite_.data(), ctx_.stream());
  MNIST_CUDA_CHECK(
      cudaMemcpyAsync(host_flag_.data(), nonfinite_.data(), sizeof(unsigned int), cudaMemcpyDeviceToHost, ctx_.stream()));
  wait(what);
  return host_flag_[0] == 0;
}

bool CudaStepBackend::gradients_finite() { return finite(model_.grads(), model_.param_count(), "the gradient check"); }
bool CudaStepBackend::weights_finite() { return finite(model_.params(), model_.param_count(), "the weight check"); }

void CudaStepBackend::forward_statistics(int n, const ForwardContext& ctx) {
  ForwardContext device_ctx = ctx;
  device_ctx.sample_ids = ids_.data();
  model_.forward(x_.data(), n, device_ctx);
}

void CudaStepBackend::evaluate_batch(int n) {
  const float* logits = model_.forward(x_.data(), n, ForwardContext{});
  const LossAccumulators acc{losses_.data() + kEvalLoss, counts_.data() + kEvalCorrect, counts_.data() + kConfusion};
  softmax_cross_entropy(logits, y_.data(), n, model_.num_outputs(), nullptr, 0.0f, acc, nullptr, ctx_.stream());
}

double CudaStepBackend::take_evaluation(ConfusionMatrix& confusion) {
  const std::size_t count_bytes = (kCounts - kEvalCorrect) * sizeof(unsigned long long);
  MNIST_CUDA_CHECK(cudaMemcpyAsync(host_losses_.data() + kEvalLoss, losses_.data() + kEvalLoss, sizeof(double),
                                   cudaMemcpyDeviceToHost, ctx_.stream()));
  MNIST_CUDA_CHECK(cudaMemcpyAsync(host_counts_.data() + kEvalCorrect, counts_.data() + kEvalCorrect, count_bytes,
                                   cudaMemcpyDeviceToHost, ctx_.stream()));
  MNIST_CUDA_CHECK(cudaMemsetAsync(losses_.data() + kEvalLoss, 0, sizeof(double), ctx_.stream()));
  MNIST_CUDA_CHECK(cudaMemsetAsync(counts_.data() + kEvalCorrect, 0, count_bytes, ctx_.stream()));
  wait("the evaluation sums");
  for (int t = 0; t < kNumClasses; ++t)
    for (int p = 0; p < kNumClasses; ++p)
      confusion.counts[t][p] += static_cast<std::int64_t>(host_counts_[kConfusion + t * kNumClasses + p]);
  return host_losses_[kEvalLoss];
}

}  // namespace mnist_ddp::cuda

// cpu_step_backend.cpp — the CPU training step around the host Model.
#include "mnist_ddp/cpu/cpu_step_backend.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/core/finite.hpp"
#include "mnist_ddp/cpu/batchnorm.hpp"
#include "mnist_ddp/data/augment.hpp"
#include "mnist_ddp/data/dataset.hpp"

namespace mnist_ddp {

CpuStepBackend::CpuStepBackend(const StepSettings& settings, Communicator& comm, Model& model)
    : settings_(settings),
      model_(model),
      transport_(comm.size() > 1 ? std::make_unique<HostGradientTransport>(comm) : nullptr),
      reducer_(transport_.get(), model.layout(), model.grads().data(), settings.bucket_bytes) {
  const int batch = settings.max_batch;
  MNIST_ASSERT(batch <= model.max_batch(), "model built for batches of " << model.max_batch());
  x_.resize(static_cast<std::size_t>(batch) * model.input_shape().size());
  y_.resize(batch);
  predictions_.resize(batch);
  dlogits_.resize(static_cast<std::size_t>(batch) * model.num_outputs());
  on_layer_done_ = reducer_.layer_callback();
  if (settings.sync_bn && comm.size() > 1) {
    bn_sync_ = std::make_unique<BatchNormSync>(comm);
    for (auto& layer : model.layers())
      if (auto* bn = dynamic_cast<BatchNormCpu*>(layer.get())) bn->set_sync(bn_sync_.get());
  }
}

// The backend computes on the trainer's Model and Optimizer themselves.
void CpuStepBackend::upload(const Model& model, const Optimizer*) {
  MNIST_ASSERT(&model == &model_, "the CPU backend works on the trainer's model");
}
void CpuStepBackend::download(Model& model, Optimizer*) {
  MNIST_ASSERT(&model == &model_, "the CPU backend works on the trainer's model");
}

void CpuStepBackend::load_batch(const MnistSet& set, const std::vector<std::int64_t>& ids, std::uint32_t epoch,
                                bool augment) {
  const std::size_t image = set.image_size();
  const AugmentRanges ranges;
  const int n = static_cast<int>(ids.size());
  MNIST_ASSERT(static_cast<std::size_t>(n) <= y_.size(), "batch of " << n << " for buffers of " << y_.size());
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    const std::uint8_t* src = set.images.data() + static_cast<std::size_t>(ids[i]) * image;
    float* dst = x_.data() + static_cast<std::size_t>(i) * image;
    if (augment) {
      const Affine t = sample_affine(settings_.seed, epoch, static_cast<std::uint64_t>(ids[i]), ranges, set.rows, set.cols);
      augment_image(src, set.rows, set.cols, t, dst);
    } else {
      normalize_pixels(src, dst, image);
    }
    y_[i] = set.labels[ids[i]];
  }
}

void CpuStepBackend::forward_backward(int n, const ForwardContext& ctx, const MicroBatch& micro) {
  const int classes = model_.num_outputs();
  const float* logits = model_.forward(x_.data(), n, ctx);
  const int update = micro.update_size > 0 ? micro.update_size : n;
  const LossSums s = softmax_cross_entropy(logits, y_.data(), n, classes, dlogits_.data(), 1.0f / update);
  sums_.loss += s.loss;
  sums_.correct += s.correct;
  if (micro.first && micro.last) {  // one micro-batch per update: reductions overlap backward
    model_.backward(dlogits_.data(), n, on_layer_done_);
    return;
  }
  // Accumulation: backward without the reducer (no_sync), the gradients summed
  // here; after the last one the buckets start at once.
  model_.backward(dlogits_.data(), n, {});
  std::vector<float>& g = model_.grads();
  if (micro.first) {
    accumulated_.assign(g.begin(), g.end());
  } else if (!micro.last) {
    for (std::size_t i = 0; i < g.size(); ++i) accumulated_[i] += g[i];
  } else {
    for (std::size_t i = 0; i < g.size(); ++i) g[i] += accumulated_[i];
    reducer_.all_layers_done(model_.layout().size());
  }
}

void CpuStepBackend::reduce_gradients() { reducer_.finish(); }

void CpuStepBackend::optimizer_step(Optimizer& optimizer, double lr) {
  optimizer.step(model_.params().data(), model_.grads().data(), lr);
}

LossSums CpuStepBackend::take_sums() { return std::exchange(sums_, LossSums{}); }

bool CpuStepBackend::gradients_finite() { return all_finite(model_.grads().data(), model_.grads().size()); }
bool CpuStepBackend::weights_finite() { return all_finite(model_.params().data(), model_.params().size()); }

void CpuStepBackend::forward_statistics(int n, const ForwardContext& ctx) { model_.forward(x_.data(), n, ctx); }

void CpuStepBackend::evaluate_batch(int n) {
  const float* logits = model_.forward(x_.data(), n, ForwardContext{});
  const LossSums s =
      softmax_cross_entropy(logits, y_.data(), n, model_.num_outputs(), nullptr, 0.0f, predictions_.data());
  eval_loss_ += s.loss;
  for (int i = 0; i < n; ++i) eval_confusion_.add(y_[i], predictions_[i]);
}

double CpuStepBackend::take_evaluation(ConfusionMatrix& confusion) {
  for (int t = 0; t < kNumClasses; ++t)
    for (int p = 0; p < kNumClasses; ++p) confusion.counts[t][p] += eval_confusion_.counts[t][p];
  eval_confusion_ = ConfusionMatrix{};
  return std::exchange(eval_loss_, 0.0);
}

}  // namespace mnist_ddp

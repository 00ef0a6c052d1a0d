// trainer.cpp — the training loop, evaluation and the rank-0 decisions.
#include "mnist_ddp/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/data/augment.hpp"
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/data/sampler.hpp"
#include "mnist_ddp/nn/loss.hpp"
#include "mnist_ddp/train/decision.hpp"
#include "mnist_ddp/train/gradient_buckets.hpp"
#include "mnist_ddp/train/progress.hpp"

namespace mnist_ddp {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

OptimizerHyper hyper_from(const Config& c) {
  OptimizerHyper h;
  h.kind = c.optimizer;
  h.momentum = c.momentum;
  return h;
}

bool interactive_progress(const Config& c) {
  switch (c.progress) {
    case ProgressMode::kBar: return true;
    case ProgressMode::kAuto: return stdout_is_terminal();
    default: return false;
  }
}

}  // namespace

Trainer::Trainer(const Config& config, Communicator& comm, Model& model, std::ostream& log)
    : config_(config), comm_(comm), model_(model), log_(log),
      optimizer_(hyper_from(config), model.params().size()),
      callbacks_(config.early_stopping, config.reduce_lr) {
  state_.lr = config.lr;
  const int batch = std::max(config.batch_size, config.eval_batch_size);
  MNIST_ASSERT(batch <= model.max_batch(), "model built for batches of " << model.max_batch());
  const std::size_t image = model.input_shape().size();
  x_.resize(static_cast<std::size_t>(batch) * image);
  y_.resize(batch);
  dlogits_.resize(static_cast<std::size_t>(batch) * model.num_outputs());
}

void Trainer::broadcast_weights() {
  comm_.broadcast(model_.params().data(), model_.params().size() * sizeof(float), 0);
  comm_.broadcast(model_.state().data(), model_.state().size() * sizeof(float), 0);
}

void Trainer::fill_batch(const MnistSet& set, const std::vector<std::int64_t>& ids, std::uint32_t epoch,
                         bool augment) {
  const std::size_t image = set.image_size();
  const AugmentRanges ranges;
  const int n = static_cast<int>(ids.size());
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    const std::uint8_t* src = set.images.data() + static_cast<std::size_t>(ids[i]) * image;
    float* dst = x_.data() + static_cast<std::size_t>(i) * image;
    if (augment) {
      const Affine t = sample_affine(config_.seed, epoch, static_cast<std::uint64_t>(ids[i]), ranges, set.rows, set.cols);
      augment_image(src, set.rows, set.cols, t, dst);
    } else {
      normalize_pixels(src, dst, image);
    }
    y_[i] = set.labels[ids[i]];
  }
}

void Trainer::recompute_batchnorm_statistics(const MnistSet& train, const ShardSampler& sampler) {
  const std::int64_t batches =
      std::min(sampler.steps_per_epoch(), (config_.precise_bn_images + config_.batch_size - 1) / config_.batch_size);
  std::vector<std::int64_t> ids;
  for (std::int64_t k = 0; k < batches; ++k) {
    sampler.batch(k, ids);
    fill_batch(train, ids, 0, false);
    ForwardContext ctx;
    ctx.training = true;   // BatchNorm normalises with, and records, the batch statistics
    ctx.dropout = false;   // as at inference
    ctx.bn_momentum = static_cast<float>(k) / static_cast<float>(k + 1);  // running mean over the batches
    model_.forward(x_.data(), static_cast<int>(ids.size()), ctx);
  }
}

TrainingState Trainer::state() const {
  TrainingState s = state_;
  s.callbacks = callbacks_.state();
  s.optimizer_iterations = optimizer_.iterations();
  s.optimizer_slots = optimizer_.slots();
  return s;
}

void Trainer::restore(const TrainingState& s) {
  MNIST_CHECK(s.optimizer_slots.size() == optimizer_.slots().size(), InputError,
              "checkpoint: optimizer state has " << s.optimizer_slots.size() << " values, the "
                                                 << to_string(config_.optimizer) << " optimizer needs "
                                                 << optimizer_.slots().size() << " (was it saved with another --optimizer?)");
  state_ = s;
  callbacks_.restore(s.callbacks);
  optimizer_.slots() = s.optimizer_slots;
  optimizer_.set_iterations(s.optimizer_iterations);
}

EvalResult Trainer::evaluate(const MnistSet& set) {
  const auto t0 = Clock::now();
  EvalResult r;
  const auto [begin, end] = shard_range(set.count, comm_.size(), comm_.rank());
  const int classes = model_.num_outputs();
  std::vector<std::int64_t> ids;
  std::vector<std::uint8_t> predictions(config_.eval_batch_size);
  double loss = 0.0;
  ForwardContext ctx;  // inference
  for (std::int64_t b = begin; b < end; b += config_.eval_batch_size) {
    const std::int64_t n = std::min<std::int64_t>(config_.eval_batch_size, end - b);
    ids.resize(n);
    for (std::int64_t i = 0; i < n; ++i) ids[i] = b + i;
    fill_batch(set, ids, 0, false);
    const float* logits = model_.forward(x_.data(), static_cast<int>(n), ctx);
    const LossSums s = softmax_cross_entropy(logits, y_.data(), static_cast<int>(n), classes, nullptr, 0.0f,
                                             predictions.data());
    loss += s.loss;
    for (std::int64_t i = 0; i < n; ++i) r.confusion.add(y_[i], predictions[i]);
  }
  comm_.allreduce_sum(&loss, 1);
  comm_.allreduce_sum(r.confusion.data(), kNumClasses * kNumClasses);
  r.count = r.confusion.total();
  r.loss = r.count > 0 ? loss / static_cast<double>(r.count) : 0.0;
  r.accuracy = r.confusion.accuracy();
  times_.evaluation += seconds_since(t0);
  return r;
}

TrainResult Trainer::fit(const MnistSet& train, const MnistSet& val, const EpochHook& after_epoch) {
  TrainResult result;
  ShardSampler sampler(train.count, comm_.size(), comm_.rank(), config_.batch_size, config_.seed);
  result.shard_size = sampler.shard_size();
  const std::int64_t steps = sampler.steps_per_epoch();
  const int classes = model_.num_outputs();
  const bool root = comm_.is_root();
  const bool has_val = val.count > 0;
  ProgressDisplay progress(log_, interactive_progress(config_) && config_.progress != ProgressMode::kNone);
  const bool show = root && config_.progress != ProgressMode::kNone;

  double lr = state_.lr;
  double train_seconds = 0.0;
  std::int64_t train_images = 0;
  std::vector<std::int64_t> ids;
  GradientBuckets buckets(comm_, model_, static_cast<std::size_t>(config_.bucket_kb) * 1024);
  std::function<void(std::size_t)> on_layer_done;
  if (buckets.overlapped()) on_layer_done = [&buckets](std::size_t layer) { buckets.on_layer_done(layer); };

  if (state_.epochs_done > 0 && show)
    log_ << "Resuming after epoch " << state_.epochs_done << " (learning rate " << lr << ")\n";
  for (int epoch = state_.epochs_done; epoch < config_.epochs && !state_.stopped; ++epoch) {
    const auto epoch_start = Clock::now();
    sampler.set_epoch(static_cast<std::uint32_t>(epoch));
    if (show) progress.begin_epoch(epoch + 1, config_.epochs, steps);
    double loss_sum = 0.0;
    std::int64_t correct = 0, seen = 0;
    for (std::int64_t step = 0; step < steps; ++step) {
      auto t = Clock::now();
      sampler.batch(step, ids);
      const int n = static_cast<int>(ids.size());
      fill_batch(train, ids, static_cast<std::uint32_t>(epoch), config_.augment);
      times_.data += seconds_since(t);

      t = Clock::now();
      ForwardContext ctx{true, config_.seed, static_cast<std::uint32_t>(epoch), ids.data(), optimizer_.iterations()};
      const float* logits = model_.forward(x_.data(), n, ctx);
      const LossSums s = softmax_cross_entropy(logits, y_.data(), n, classes, dlogits_.data(), 1.0f / n);
      model_.backward(dlogits_.data(), n, on_layer_done);
      times_.compute += seconds_since(t);

      t = Clock::now();
      buckets.finish();  // the mean gradient over all ranks
      times_.communication += seconds_since(t);

      t = Clock::now();
      optimizer_.step(model_.params().data(), model_.grads().data(), lr);
      times_.compute += seconds_since(t);

      loss_sum += s.loss;
      correct += s.correct;
      seen += n;
      if (show) progress.update(step + 1, loss_sum / seen, static_cast<double>(correct) / seen);
    }
    const double epoch_train_seconds = seconds_since(epoch_start);
    train_seconds += epoch_train_seconds;
    result.steps += steps;

    // Epoch training metrics over all ranks.
    double sums[3] = {loss_sum, static_cast<double>(correct), static_cast<double>(seen)};
    comm_.allreduce_sum(sums, 3);
    train_images += static_cast<std::int64_t>(sums[2]);
    MNIST_CHECK(std::isfinite(sums[0]), RuntimeError,
                "the training loss became non-finite in epoch " << epoch + 1 << " (learning rate " << lr
                                                                << " too large?)");

    if (config_.precise_bn_images > 0) {
      const auto t = Clock::now();
      recompute_batchnorm_statistics(train, sampler);
      times_.evaluation += seconds_since(t);
    }
    // BatchNorm moving statistics: every rank saw a different shard; use their mean.
    if (comm_.size() > 1) {
      auto& st = model_.state();
      comm_.allreduce_sum(st.data(), st.size());
      for (float& v : st) v /= static_cast<float>(comm_.size());
    }

    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.loss = sums[0] / sums[2];
    rec.accuracy = sums[1] / sums[2];
    rec.lr = lr;
    Decision decision;
    decision.lr = lr;
    if (has_val) {
      const EvalResult v = evaluate(val);
      rec.val_loss = v.loss;
      rec.val_accuracy = v.accuracy;
      decision = decide_on_root(comm_, callbacks_, epoch, v.loss, lr);
    }
    rec.seconds = seconds_since(epoch_start);
    rec.images_per_second = sums[2] / epoch_train_seconds;
    state_.history.push_back(rec);
    if (show) {
      EpochSummary es{rec.epoch, config_.epochs, rec.seconds, rec.loss, rec.accuracy, rec.val_loss,
                      rec.val_accuracy, has_val, rec.lr, rec.images_per_second};
      progress.end_epoch(es);
    }
    if (decision.improved) {
      state_.best_params = model_.params();
      state_.best_state = model_.state();
      state_.best_epoch = decision.best_epoch + 1;
    }
    if (decision.lr != lr && show) log_ << "ReduceLROnPlateau: learning rate " << lr << " -> " << decision.lr << '\n';
    lr = decision.lr;
    state_.lr = lr;
    state_.epochs_done = epoch + 1;
    state_.stopped = decision.stop != 0;
    if (after_epoch) after_epoch(state());
    if (decision.stop) {
      if (show) log_ << "EarlyStopping: no val_loss improvement for " << config_.early_stopping.patience
                     << " epochs; stopping after epoch " << epoch + 1 << '\n';
      break;
    }
  }
  result.history = state_.history;
  result.stopped_early = state_.stopped;
  result.best_epoch = state_.best_epoch;
  if (config_.early_stopping.restore_best_weights && !state_.best_params.empty() &&
      result.best_epoch != static_cast<int>(result.history.size())) {
    std::copy(state_.best_params.begin(), state_.best_params.end(), model_.params().begin());
    std::copy(state_.best_state.begin(), state_.best_state.end(), model_.state().begin());
    result.restored_best = true;
    if (show) log_ << "Restoring the weights of the best epoch (" << result.best_epoch << ")\n";
  }
  result.train_images_per_second = train_seconds > 0 ? static_cast<double>(train_images) / train_seconds : 0.0;
  result.times = times_;
  return result;
}

}  // namespace mnist_ddp

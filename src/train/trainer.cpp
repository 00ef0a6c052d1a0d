// trainer.cpp — the training loop, evaluation and the rank-0 decisions.
#include "mnist_ddp/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/core/signals.hpp"
#include "mnist_ddp/data/augment.hpp"
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/data/sampler.hpp"
#include "mnist_ddp/nn/loss.hpp"
#include "mnist_ddp/cpu/cpu_step_backend.hpp"
#include "mnist_ddp/train/decision.hpp"
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

// Whether every value is finite (all_finite of cpu_step_backend.hpp: about
// 0.1 ms for the seed CNN's 437 738 parameters).
bool all_finite(const std::vector<float>& values) { return mnist_ddp::all_finite(values.data(), values.size()); }

// The per-step control record that every rank adds up after the gradients:
// [0] the batch's loss sum (non-finite anywhere -> non-finite here), then one
// count per stop signal, so all ranks see the same signals at the same step.
constexpr int kStopSignalList[] = {SIGTERM, SIGINT, SIGUSR1};
constexpr int kNumStopSignals = sizeof kStopSignalList / sizeof kStopSignalList[0];
struct StepControl {
  double values[1 + kNumStopSignals] = {};
  double& loss() { return values[0]; }
  void add_signal(int signal) {
    for (int i = 0; i < kNumStopSignals; ++i)
      if (kStopSignalList[i] == signal) values[1 + i] += 1.0;
  }
  // The first signal that some rank received, and on how many ranks.
  int signal(int* ranks) const {
    for (int i = 0; i < kNumStopSignals; ++i)
      if (values[1 + i] > 0) {
        *ranks = static_cast<int>(values[1 + i]);
        return kStopSignalList[i];
      }
    return 0;
  }
};

bool interactive_progress(const Config& c) {
  switch (c.progress) {
    case ProgressMode::kBar: return true;
    case ProgressMode::kAuto: return stdout_is_terminal();
    default: return false;
  }
}

}  // namespace

Trainer::Trainer(const Config& config, Communicator& comm, Model& model, std::ostream& log, StepBackend& backend)
    : config_(config), comm_(comm), model_(model), log_(log),
      optimizer_(hyper_from(config), model.params().size()),
      backend_(backend),
      callbacks_(config.early_stopping, config.reduce_lr), fault_(StepFault::from_environment()) {
  state_.lr = config.lr;
  const int batch = std::max(config.batch_size, config.eval_batch_size);
  MNIST_ASSERT(batch <= model.max_batch(), "model built for batches of " << model.max_batch());
}

void Trainer::broadcast_weights() {
  comm_.broadcast(model_.params().data(), model_.params().size() * sizeof(float), 0);
  comm_.broadcast(model_.state().data(), model_.state().size() * sizeof(float), 0);
}

void Trainer::recompute_batchnorm_statistics(const MnistSet& train, const ShardSampler& sampler) {
  const std::int64_t batches =
      std::min(sampler.steps_per_epoch(), (config_.precise_bn_images + config_.batch_size - 1) / config_.batch_size);
  std::vector<std::int64_t> ids;
  for (std::int64_t k = 0; k < batches; ++k) {
    sampler.batch(k, ids);
    backend_.load_batch(train, ids, 0, false);
    ForwardContext ctx;
    ctx.training = true;   // BatchNorm normalises with, and records, the batch statistics
    ctx.dropout = false;   // as at inference
    ctx.bn_momentum = static_cast<float>(k) / static_cast<float>(k + 1);  // running mean over the batches
    backend_.forward_statistics(static_cast<int>(ids.size()), ctx);
  }
}

void Trainer::check_finite(bool finite, const char* what, int epoch, std::int64_t step, double lr) const {
  MNIST_CHECK(finite, NumericalFault,
              "non-finite " << what << " at epoch " << epoch + 1 << " step " << step + 1
                            << " (learning rate " << lr << " too large?): training stopped");
}

void Trainer::gather_rank_states() {
  state_.rank_states.clear();
  if (comm_.size() == 1) return;
  const std::size_t n = model_.state().size();
  state_.rank_states.resize(n * static_cast<std::size_t>(comm_.size()));
  // One broadcast per rank rather than a sum into a zeroed buffer: copies are
  // exact, where a sum would turn -0.0 into +0.0.
  for (int r = 0; r < comm_.size(); ++r) {
    float* slot = state_.rank_states.data() + n * static_cast<std::size_t>(r);
    if (r == comm_.rank()) std::copy(model_.state().begin(), model_.state().end(), slot);
    comm_.broadcast(slot, n * sizeof(float), r);
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
  backend_.upload(model_, nullptr);  // the host weights are the ones to evaluate
  std::vector<std::int64_t> ids;
  for (std::int64_t b = begin; b < end; b += config_.eval_batch_size) {
    const std::int64_t n = std::min<std::int64_t>(config_.eval_batch_size, end - b);
    ids.resize(n);
    for (std::int64_t i = 0; i < n; ++i) ids[i] = b + i;
    backend_.load_batch(set, ids, 0, false);
    backend_.evaluate_batch(static_cast<int>(n));  // inference
  }
  double loss = backend_.take_evaluation(r.confusion);
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
  const bool root = comm_.is_root();
  const bool has_val = val.count > 0;
  ProgressDisplay progress(log_, interactive_progress(config_) && config_.progress != ProgressMode::kNone);
  const bool show = root && config_.progress != ProgressMode::kNone;

  double lr = state_.lr;
  double train_seconds = 0.0;
  std::int64_t train_images = 0;
  std::vector<std::int64_t> ids;

  // Resumed inside an epoch: each rank takes back its own BatchNorm moving
  // statistics (broadcast_weights gave every rank rank 0's). With another rank
  // count the run cannot continue bit for bit anyway: rank 0's serve all.
  const std::size_t state_size = model_.state().size();
  if (state_.rank_states.size() == state_size * static_cast<std::size_t>(comm_.size())) {
    const float* mine = state_.rank_states.data() + state_size * static_cast<std::size_t>(comm_.rank());
    std::copy(mine, mine + state_size, model_.state().begin());
  }
  state_.rank_states.clear();
  backend_.upload(model_, &optimizer_);  // weights, BatchNorm state, optimizer slots and step count
  MNIST_CHECK(state_.epoch_steps_done <= steps, InputError,
              "checkpoint: stopped after step " << state_.epoch_steps_done << " of an epoch, but this run has "
                                                << steps << " steps per epoch (other data, batch size or ranks?)");
  if (show && state_.epoch_steps_done > 0)
    log_ << "Resuming epoch " << state_.epochs_done + 1 << " after step " << state_.epoch_steps_done << " of "
         << steps << " (learning rate " << lr << ")\n";
  else if (show && state_.epochs_done > 0)
    log_ << "Resuming after epoch " << state_.epochs_done << " (learning rate " << lr << ")\n";
  for (int epoch = state_.epochs_done; epoch < config_.epochs && !state_.stopped; ++epoch) {
    const auto epoch_start = Clock::now();
    sampler.set_epoch(static_cast<std::uint32_t>(epoch));
    // A run stopped inside this epoch continues after its last step; its
    // partial sums (over all ranks) are carried by rank 0 alone, so that the
    // epoch's reduction below counts them once.
    const std::int64_t first_step = state_.epoch_steps_done;
    const double carried_seconds = state_.epoch_seconds;
    double loss_sum = root ? state_.epoch_loss_sum : 0.0;
    std::int64_t correct = root ? state_.epoch_correct : 0, seen = root ? state_.epoch_seen : 0;
    if (show) progress.begin_epoch(epoch + 1, config_.epochs, steps);
    for (std::int64_t step = first_step; step < steps; ++step) {
      auto t = Clock::now();
      sampler.batch(step, ids);
      const int n = static_cast<int>(ids.size());
      backend_.load_batch(train, ids, static_cast<std::uint32_t>(epoch), config_.augment);
      times_.data += seconds_since(t);

      t = Clock::now();
      ForwardContext ctx{true, config_.seed, static_cast<std::uint32_t>(epoch), ids.data(), optimizer_.iterations()};
      backend_.forward_backward(n, ctx);
      times_.compute += seconds_since(t);

      t = Clock::now();
      backend_.reduce_gradients();  // the mean gradient over all ranks
      // Losses and checks are read at sync points: every step on the CPU; on a
      // GPU every sync_interval() steps and at the epoch's last (reading waits
      // for the device), the loss then being the sum since the previous one.
      const bool sync = (step + 1) % backend_.sync_interval() == 0 || step + 1 == steps;
      const LossSums s = sync ? backend_.take_sums() : LossSums{};
      // Every rank learns every rank's loss health and stop signals, so all
      // take the same decision at the same step.
      StepControl control;
      control.loss() = s.loss;
      control.add_signal(stop_signal_received());
      comm_.allreduce_sum(control.values, sizeof control.values / sizeof control.values[0]);
      times_.communication += seconds_since(t);
      MNIST_CHECK(std::isfinite(control.loss()), NumericalFault,
                  "non-finite training loss (" << control.loss() << ") at epoch " << epoch + 1 << " step " << step + 1
                                               << " (learning rate " << lr << " too large?): training stopped "
                                               << "before the update");
      if (sync) check_finite(backend_.gradients_finite(), "gradient", epoch, step, lr);

      t = Clock::now();
      backend_.optimizer_step(optimizer_, lr);
      times_.compute += seconds_since(t);
      if (sync) check_finite(backend_.weights_finite(), "weights after the update", epoch, step, lr);
      fault_.after_step(optimizer_.iterations(), comm_.rank());

      loss_sum += s.loss;
      correct += s.correct;
      seen += n;
      result.steps += 1;
      if (show && sync) progress.update(step + 1, loss_sum / seen, static_cast<double>(correct) / seen);

      int ranks = 0;
      if (const int signal = control.signal(&ranks)) {
        // Stop here, on every rank: record the position and the epoch's
        // partial metrics (summed over the ranks) for the checkpoint.
        if (!sync) {  // a GPU between sync points: the sums so far, then the same checks
          const LossSums rest = backend_.take_sums();
          loss_sum += rest.loss;
          correct += rest.correct;
        }
        backend_.download(model_, &optimizer_);
        double sums[3] = {loss_sum, static_cast<double>(correct), static_cast<double>(seen)};
        comm_.allreduce_sum(sums, 3);
        if (!sync) {
          check_finite(std::isfinite(sums[0]), "training loss", epoch, step, lr);
          check_finite(all_finite(model_.params()), "weights after the update", epoch, step, lr);
        }
        state_.lr = lr;
        state_.epoch_steps_done = step + 1;
        state_.epoch_loss_sum = sums[0];
        state_.epoch_correct = static_cast<std::int64_t>(sums[1]);
        state_.epoch_seen = static_cast<std::int64_t>(sums[2]);
        state_.epoch_seconds = carried_seconds + seconds_since(epoch_start);
        gather_rank_states();
        if (show && interactive_progress(config_)) log_ << '\n';  // end the live bar's line
        result.preempted = Preemption{signal, ranks, epoch + 1, step + 1, steps};
        result.history = state_.history;
        result.best_epoch = state_.best_epoch;
        result.times = times_;
        return result;
      }
    }
    const double epoch_train_seconds = carried_seconds + seconds_since(epoch_start);
    train_seconds += epoch_train_seconds;

    // Epoch training metrics over all ranks.
    double sums[3] = {loss_sum, static_cast<double>(correct), static_cast<double>(seen)};
    comm_.allreduce_sum(sums, 3);
    train_images += static_cast<std::int64_t>(sums[2]);

    if (config_.precise_bn_images > 0) {
      const auto t = Clock::now();
      recompute_batchnorm_statistics(train, sampler);
      times_.evaluation += seconds_since(t);
    }
    backend_.download(model_, &optimizer_);  // the host copy is the truth between epochs
    // BatchNorm moving statistics: every rank saw a different shard; use their mean.
    if (comm_.size() > 1) {
      auto& st = model_.state();
      comm_.allreduce_sum(st.data(), st.size());
      for (float& v : st) v /= static_cast<float>(comm_.size());
    }
    // Identical on every rank after the reduction: all ranks agree.
    check_finite(all_finite(model_.state()), "BatchNorm statistics", epoch, steps - 1, lr);

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
    rec.seconds = carried_seconds + seconds_since(epoch_start);
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
    state_.epoch_steps_done = 0;
    state_.epoch_loss_sum = 0;
    state_.epoch_correct = state_.epoch_seen = 0;
    state_.epoch_seconds = 0;
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

// trainer.cpp — the training loop: steps, epoch ends and rank-0 decisions, told to observers.
#include "mnist_ddp/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/core/finite.hpp"
#include "mnist_ddp/core/signals.hpp"
#include "mnist_ddp/data/augment.hpp"
#include "mnist_ddp/data/dataset.hpp"
#include "mnist_ddp/data/sampler.hpp"
#include "mnist_ddp/nn/loss.hpp"
#include "mnist_ddp/train/decision.hpp"

namespace mnist_ddp {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }


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

}  // namespace

Trainer::Trainer(const TrainerSettings& settings, Communicator& comm, Model& model, std::ostream& log,
                 StepBackend& backend)
    : settings_(settings), comm_(comm), model_(model), log_(log),
      optimizer_(settings.optimizer, model.params().size()),
      schedule_{lr_scale_factor(settings.lr_scaling, comm.size() * settings.accumulate), settings.warmup_epochs},
      backend_(backend),
      callbacks_(settings.early_stopping, settings.reduce_lr), fault_(StepFault::from_environment()),
      trace_(SampleTrace::from_environment(comm.rank())) {
  state_.lr = settings.lr * schedule_.scale;
  state_.lr_scale = schedule_.scale;
  MNIST_CHECK(settings.accumulate >= 1 && settings.accumulate <= (1 << 30) / std::max(1, settings.batch_size),
              UsageError, "--accumulate " << settings.accumulate << " x --batch-size " << settings.batch_size
                                          << ": the update is too large");
  const int batch = std::max(settings.batch_size, settings.eval_batch_size);
  MNIST_ASSERT(batch <= model.max_batch(), "model built for batches of " << model.max_batch());
}

void Trainer::broadcast_weights() {
  comm_.broadcast(model_.params().data(), model_.params().size() * sizeof(float), 0);
  comm_.broadcast(model_.state().data(), model_.state().size() * sizeof(float), 0);
}

void Trainer::recompute_batchnorm_statistics(const MnistSet& train, const ShardSampler& sampler) {
  // In batches of batch_size (the sampler's are accumulate times larger).
  const std::int64_t batches = (settings_.precise_bn_images + settings_.batch_size - 1) / settings_.batch_size;
  std::vector<std::int64_t> update, ids;
  std::int64_t k = 0;
  for (std::int64_t step = 0; step < sampler.steps() && k < batches; ++step) {
    sampler.batch(step, update);
    for (std::size_t first = 0; first < update.size() && k < batches; first += settings_.batch_size, ++k) {
      const std::size_t last = std::min(update.size(), first + static_cast<std::size_t>(settings_.batch_size));
      ids.assign(update.begin() + static_cast<std::ptrdiff_t>(first), update.begin() + static_cast<std::ptrdiff_t>(last));
      backend_.load_batch(train, ids, 0, false);
      ForwardContext ctx;
      ctx.training = true;   // BatchNorm normalises with, and records, the batch statistics
      ctx.dropout = false;   // as at inference
      ctx.bn_momentum = static_cast<float>(k) / static_cast<float>(k + 1);  // running mean over the batches
      backend_.forward_statistics(static_cast<int>(ids.size()), ctx);
    }
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
                                                 << to_string(settings_.optimizer.kind) << " optimizer needs "
                                                 << optimizer_.slots().size() << " (was it saved with another --optimizer?)");
  state_ = s;
  // The target was scaled for the checkpoint's rank count: the same rate per
  // one-rank batch, scaled for this one (ReduceLROnPlateau's cuts are kept).
  if (s.lr_scale != schedule_.scale) state_.lr = s.lr / s.lr_scale * schedule_.scale;
  state_.lr_scale = schedule_.scale;
  callbacks_.restore(s.callbacks);
  optimizer_.slots() = s.optimizer_slots;
  optimizer_.set_iterations(s.optimizer_iterations);
}

EvalResult Trainer::evaluate(const MnistSet& set) {
  const auto t0 = Clock::now();
  const EvalResult r = evaluate_sharded(model_, backend_, comm_, set, settings_.eval_batch_size);
  times_.evaluation += seconds_since(t0);
  return r;
}

struct Trainer::Run {
  Run(const MnistSet& train_set, const MnistSet& val_set, const std::vector<TrainingObserver*>& watching,
      const ShardSampler& shards, double start_lr)
      : train(train_set), val(val_set), observers(watching), sampler(shards), lr(start_lr) {}

  const MnistSet& train;
  const MnistSet& val;
  const std::vector<TrainingObserver*>& observers;
  ShardSampler sampler;
  std::int64_t steps = 0;  // of a whole epoch
  double lr;  // this epoch's scaled learning rate (the warm-up's target)
  double train_seconds = 0.0;
  std::int64_t train_images = 0;
  std::vector<std::int64_t> ids, micro_ids;  // an update's samples, a micro-batch's
  TrainResult result;
};

struct Trainer::EpochRun {
  int epoch;  // 0-based
  std::int64_t step_offset;  // steps made in this epoch before a resume (for display)
  std::int64_t steps;        // step_offset + the steps of this run
  double lr;                 // the rate in force at the latest step
  Clock::time_point start;
  double carried_seconds;  // spent in this epoch before a resume
  double loss_sum;
  std::int64_t correct, seen;
};

struct Trainer::StepOutcome {
  bool sync;      // the step was a sync point
  int signal;     // the stop signal some rank received (0: none)
  int ranks;      // on how many ranks
};

TrainResult Trainer::fit(const MnistSet& train, const MnistSet& val, const std::vector<TrainingObserver*>& observers) {
  Run run(train, val, observers,
          ShardSampler(train.count, comm_.size(), comm_.rank(), settings_.batch_size * settings_.accumulate,
                       settings_.seed),
          state_.lr);
  begin_fit(run);
  for (int epoch = state_.epochs_done; epoch < settings_.epochs && !state_.stopped; ++epoch) {
    EpochRun e = begin_epoch(run, epoch);
    for (std::int64_t step = 0; step < run.sampler.steps(); ++step) {
      const StepOutcome outcome = train_step(run, e, step);
      if (outcome.signal != 0) {
        stop_after(run, e, step, outcome);
        return run.result;
      }
    }
    if (end_epoch(run, e)) break;
  }
  finish(run);
  return run.result;
}

void Trainer::begin_fit(Run& run) {
  run.result.shard_size = run.sampler.shard_size();
  run.steps = run.sampler.steps_per_epoch();
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
  // A version-2 checkpoint's position (steps x batch x ranks) may pass the end
  // of the epoch's order by the last step's padding.
  state_.epoch_samples_done = std::min(state_.epoch_samples_done, run.sampler.samples());
  for (TrainingObserver* o : run.observers) o->on_train_begin(state_, run.steps);
}

Trainer::EpochRun Trainer::begin_epoch(Run& run, int epoch) {
  run.sampler.set_epoch(static_cast<std::uint32_t>(epoch));
  run.sampler.set_start(state_.epoch_samples_done);  // 0 unless resumed inside this epoch
  // A run stopped inside this epoch continues after its last step; its
  // partial sums (over all ranks) are carried by rank 0 alone, so that the
  // epoch's reduction counts them once.
  const bool root = comm_.is_root();
  const std::int64_t offset = state_.epoch_samples_done > 0 ? state_.epoch_steps_done : 0;
  EpochRun e{epoch,
             offset,
             offset + run.sampler.steps(),
             schedule_.rate(run.lr, epoch_time(run, epoch, 0)),
             Clock::now(),
             state_.epoch_seconds,
             root ? state_.epoch_loss_sum : 0.0,
             root ? state_.epoch_correct : 0,
             root ? state_.epoch_seen : 0};
  for (TrainingObserver* o : run.observers) o->on_epoch_begin(epoch + 1, settings_.epochs, e.steps);
  return e;
}

double Trainer::epoch_time(const Run& run, int epoch, std::int64_t step) const {
  return epoch + static_cast<double>(run.sampler.position_before(step)) / static_cast<double>(run.sampler.samples());
}

Trainer::StepOutcome Trainer::train_step(Run& run, EpochRun& e, std::int64_t local_step) {
  const std::int64_t step = e.step_offset + local_step;  // in the epoch, as shown
  const double lr = schedule_.rate(run.lr, epoch_time(run, e.epoch, local_step));
  e.lr = lr;
  auto t = Clock::now();
  run.sampler.batch(local_step, run.ids);
  trace_.record(e.epoch + 1, run.ids);
  const int n = static_cast<int>(run.ids.size());
  // The update's samples in micro-batches of batch_size (--accumulate).
  for (int first = 0; first < n; first += settings_.batch_size) {
    const int m = std::min(settings_.batch_size, n - first);
    run.micro_ids.assign(run.ids.begin() + first, run.ids.begin() + first + m);
    backend_.load_batch(run.train, run.micro_ids, static_cast<std::uint32_t>(e.epoch), settings_.augment);
    times_.data += seconds_since(t);
    t = Clock::now();
    ForwardContext ctx{true, settings_.seed, static_cast<std::uint32_t>(e.epoch), run.micro_ids.data(),
                       optimizer_.iterations()};
    backend_.forward_backward(m, ctx, MicroBatch{n, first == 0, first + m == n});
    times_.compute += seconds_since(t);
    t = Clock::now();
  }

  t = Clock::now();
  backend_.reduce_gradients();  // the mean gradient over all ranks
  // Losses and checks are read at sync points: every step on the CPU; on a
  // GPU every sync_interval() steps and at the epoch's last (reading waits
  // for the device), the loss then being the sum since the previous one.
  const bool sync = (step + 1) % backend_.sync_interval() == 0 || step + 1 == e.steps;
  const LossSums s = sync ? backend_.take_sums() : LossSums{};
  // Every rank learns every rank's loss health and stop signals, so all
  // take the same decision at the same step.
  StepControl control;
  control.loss() = s.loss;
  control.add_signal(stop_signal_received());
  comm_.allreduce_sum(control.values, sizeof control.values / sizeof control.values[0]);
  times_.communication += seconds_since(t);
  MNIST_CHECK(std::isfinite(control.loss()), NumericalFault,
              "non-finite training loss (" << control.loss() << ") at epoch " << e.epoch + 1 << " step " << step + 1
                                           << " (learning rate " << lr << " too large?): training stopped "
                                           << "before the update");
  if (sync) check_finite(backend_.gradients_finite(), "gradient", e.epoch, step, lr);

  t = Clock::now();
  backend_.optimizer_step(optimizer_, lr);
  times_.compute += seconds_since(t);
  if (sync) check_finite(backend_.weights_finite(), "weights after the update", e.epoch, step, lr);
  fault_.after_step(optimizer_.iterations(), comm_.rank());

  e.loss_sum += s.loss;
  e.correct += s.correct;
  e.seen += n;
  run.result.steps += 1;
  if (sync)
    for (TrainingObserver* o : run.observers)
      o->on_step(step + 1, e.loss_sum / e.seen, static_cast<double>(e.correct) / e.seen);
  StepOutcome outcome{sync, 0, 0};
  outcome.signal = control.signal(&outcome.ranks);
  return outcome;
}

void Trainer::stop_after(Run& run, EpochRun& e, std::int64_t local_step, const StepOutcome& outcome) {
  const std::int64_t step = e.step_offset + local_step;
  // Stop here, on every rank: record the position and the epoch's partial
  // metrics (summed over the ranks) for the checkpoint.
  if (!outcome.sync) {  // a GPU between sync points: the sums so far, then the same checks
    const LossSums rest = backend_.take_sums();
    e.loss_sum += rest.loss;
    e.correct += rest.correct;
  }
  backend_.download(model_, &optimizer_);
  double sums[3] = {e.loss_sum, static_cast<double>(e.correct), static_cast<double>(e.seen)};
  comm_.allreduce_sum(sums, 3);
  if (!outcome.sync) {
    check_finite(std::isfinite(sums[0]), "training loss", e.epoch, step, run.lr);
    check_finite(all_finite(model_.params()), "weights after the update", e.epoch, step, run.lr);
  }
  state_.lr = run.lr;
  state_.epoch_samples_done = run.sampler.position_after(local_step);
  state_.epoch_steps_done = step + 1;
  state_.epoch_loss_sum = sums[0];
  state_.epoch_correct = static_cast<std::int64_t>(sums[1]);
  state_.epoch_seen = static_cast<std::int64_t>(sums[2]);
  state_.epoch_seconds = e.carried_seconds + seconds_since(e.start);
  gather_rank_states();
  TrainResult& result = run.result;
  result.preempted = Preemption{outcome.signal, outcome.ranks, e.epoch + 1, step + 1, e.steps};
  result.history = state_.history;
  result.best_epoch = state_.best_epoch;
  result.times = times_;
  if (run.observers.empty()) return;
  const TrainingState s = state();
  for (TrainingObserver* o : run.observers) o->on_stop(result.preempted, s);
}

EpochRecord Trainer::reduce_epoch(Run& run, EpochRun& e) {
  const double epoch_train_seconds = e.carried_seconds + seconds_since(e.start);
  run.train_seconds += epoch_train_seconds;

  // Epoch training metrics over all ranks.
  double sums[3] = {e.loss_sum, static_cast<double>(e.correct), static_cast<double>(e.seen)};
  comm_.allreduce_sum(sums, 3);
  run.train_images += static_cast<std::int64_t>(sums[2]);

  if (settings_.precise_bn_images > 0) {
    const auto t = Clock::now();
    run.sampler.set_start(0);  // the epoch's own first batches, also after a resume inside it
    recompute_batchnorm_statistics(run.train, run.sampler);
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
  check_finite(all_finite(model_.state()), "BatchNorm statistics", e.epoch, run.steps - 1, run.lr);

  EpochRecord rec;
  rec.epoch = e.epoch + 1;
  rec.loss = sums[0] / sums[2];
  rec.accuracy = sums[1] / sums[2];
  rec.lr = e.lr;
  rec.lr_target = run.lr;
  rec.images_per_second = sums[2] / epoch_train_seconds;
  return rec;
}

bool Trainer::end_epoch(Run& run, EpochRun& e) {
  EpochRecord rec = reduce_epoch(run, e);
  const bool has_val = run.val.count > 0;
  Decision decision;
  decision.lr = run.lr;
  if (has_val) {
    const EvalResult v = evaluate(run.val);
    rec.val_loss = v.loss;
    rec.val_accuracy = v.accuracy;
    decision = decide_on_root(comm_, callbacks_, e.epoch, v.loss, run.lr);
  }
  rec.seconds = e.carried_seconds + seconds_since(e.start);
  state_.history.push_back(rec);
  if (decision.improved) {
    state_.best_params = model_.params();
    state_.best_state = model_.state();
    state_.best_epoch = decision.best_epoch + 1;
  }
  run.lr = decision.lr;
  state_.lr = run.lr;
  state_.epochs_done = e.epoch + 1;
  state_.epoch_samples_done = 0;
  state_.epoch_steps_done = 0;
  state_.epoch_loss_sum = 0;
  state_.epoch_correct = state_.epoch_seen = 0;
  state_.epoch_seconds = 0;
  state_.stopped = decision.stop != 0;
  if (!run.observers.empty()) {
    const TrainingState s = state();
    for (TrainingObserver* o : run.observers) o->on_epoch_end(EpochEnd{rec, settings_.epochs, has_val, s});
    if (state_.stopped)
      for (TrainingObserver* o : run.observers) o->on_early_stop(e.epoch + 1);
  }
  return state_.stopped;
}

void Trainer::finish(Run& run) {
  TrainResult& result = run.result;
  result.history = state_.history;
  result.stopped_early = state_.stopped;
  result.best_epoch = state_.best_epoch;
  if (settings_.early_stopping.restore_best_weights && !state_.best_params.empty() &&
      result.best_epoch != static_cast<int>(result.history.size())) {
    std::copy(state_.best_params.begin(), state_.best_params.end(), model_.params().begin());
    std::copy(state_.best_state.begin(), state_.best_state.end(), model_.state().begin());
    result.restored_best = true;
  }
  result.train_images_per_second =
      run.train_seconds > 0 ? static_cast<double>(run.train_images) / run.train_seconds : 0.0;
  result.times = times_;
  for (TrainingObserver* o : run.observers) o->on_train_end(result);
}

}  // namespace mnist_ddp

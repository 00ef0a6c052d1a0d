// trainer.hpp — the data-parallel training loop and sharded evaluation.
//
// Every rank runs the same loop: its shard's batch (augmented) → forward →
// softmax cross-entropy → backward → gradients averaged over the ranks → the
// same optimizer update everywhere. After each epoch the BatchNorm moving
// statistics are averaged over the ranks, the validation set is evaluated in
// shards and reduced, rank 0 runs EarlyStopping and ReduceLROnPlateau, and its
// Decision is broadcast and applied by all. Only rank 0 prints.
//
// Faults, at every step and agreed by all ranks through one small all-reduce
// next to the gradients' ({batch loss, stop signals seen}): a non-finite loss
// or reduced gradient (or weights after the update) ends training with a
// NumericalFault before anything is written; a stop signal (core/signals.hpp)
// on any rank ends it after that step on every rank, with the position inside
// the epoch in state() so that a checkpoint continues the run bit for bit.
//
// What only watches the run (progress, messages, checkpoints) is not here but
// in the observers given to fit() (train/training_observer.hpp).
#pragma once

#include <cstdint>
#include <ostream>
#include <vector>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/core/fault_injection.hpp"
#include "mnist_ddp/data/idx.hpp"
#include "mnist_ddp/data/sampler.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/optimizer.hpp"
#include "mnist_ddp/train/callbacks.hpp"
#include "mnist_ddp/train/evaluation.hpp"
#include "mnist_ddp/train/lr_schedule.hpp"
#include "mnist_ddp/train/metrics.hpp"
#include "mnist_ddp/train/sample_trace.hpp"
#include "mnist_ddp/train/step_backend.hpp"
#include "mnist_ddp/train/training_observer.hpp"

namespace mnist_ddp {

struct EpochRecord {
  int epoch = 0;  // 1-based
  double loss = 0, accuracy = 0;
  double val_loss = 0, val_accuracy = 0;
  double lr = 0;         // the rate in force at the epoch's last step (after any warm-up)
  double lr_target = 0;  // the scaled rate of the epoch (what ReduceLROnPlateau acts on)
  double seconds = 0;
  double images_per_second = 0;
};

struct TrainTimes {
  double data = 0, compute = 0, communication = 0, evaluation = 0;
};

// A non-finite training loss, gradient or weight. Every rank finds it at the
// same step (it is checked on reduced values and on weights that are identical
// everywhere), so the job can end in order, without MPI_Abort, with exit code 1.
class NumericalFault : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

// Everything that continues a run, bit for bit, at an epoch boundary or (after
// a stop signal) between two steps of an epoch: with the model's weights and
// BatchNorm state, this is what a checkpoint holds. The random streams need no
// state: they are addressed by (seed, epoch, sample), and dropout by the step.
struct TrainingState {
  int epochs_done = 0;
  // Inside epoch epochs_done + 1: the global samples of its order already
  // consumed (the position, valid on any rank count: data/sampler.hpp), the
  // steps made (for display), and the partial training metrics summed over all
  // ranks and the seconds spent (0 at an epoch boundary).
  std::int64_t epoch_samples_done = 0;
  std::int64_t epoch_steps_done = 0;
  double epoch_loss_sum = 0;
  std::int64_t epoch_correct = 0, epoch_seen = 0;
  double epoch_seconds = 0;
  // Inside an epoch on several ranks: every rank's BatchNorm moving statistics
  // (rank-major), which differ until the epoch's end averages them.
  std::vector<float> rank_states;
  bool stopped = false;                  // EarlyStopping ended the run
  double lr = 0;          // the scaled rate (the warm-up's target), ReduceLROnPlateau's
  double lr_scale = 1.0;  // the --lr-scaling factor lr was scaled by (train/lr_schedule.hpp)
  CallbacksState callbacks;
  int best_epoch = -1;                   // 1-based, -1 if none yet
  std::vector<float> best_params, best_state;
  std::vector<EpochRecord> history;
  std::int64_t optimizer_iterations = 0;
  std::vector<float> optimizer_slots;
};

// Where a stop signal ended training (signal 0: it was not stopped).
struct Preemption {
  int signal = 0;          // the signal's number (SIGTERM, SIGINT, SIGUSR1)
  int ranks = 0;           // how many ranks had received one
  int epoch = 0;           // 1-based epoch in progress
  std::int64_t step = 0;   // steps made in it
  std::int64_t steps = 0;  // steps per epoch
};

struct TrainResult {
  Preemption preempted;              // signal != 0: stopped early; state() holds the position
  std::vector<EpochRecord> history;
  int best_epoch = -1;               // 1-based, -1 if none
  bool stopped_early = false;
  bool restored_best = false;
  std::int64_t steps = 0;
  std::int64_t shard_size = 0;       // training samples per rank per epoch
  double train_images_per_second = 0;  // global, training steps only
  TrainTimes times;                  // this rank's
};

// What the training loop reads of the configuration (app/trainer_settings.hpp
// makes it from the command line's Config).
struct TrainerSettings {
  int epochs = 10;
  int batch_size = 64;                    // per rank: one micro-batch
  int accumulate = 1;                     // micro-batches per update (the update: accumulate x batch_size per rank)
  int eval_batch_size = 500;              // per rank, for validation (and evaluate())
  double lr = 1e-3;                       // the initial learning rate, for one batch_size batch
  LrScaling lr_scaling = LrScaling::kNone;  // train/lr_schedule.hpp
  double warmup_epochs = 0;
  OptimizerHyper optimizer;               // kind and SGD momentum from the command line
  bool augment = true;
  std::int64_t precise_bn_images = 4096;  // per rank; 0: Keras's moving averages
  EarlyStoppingConfig early_stopping;
  ReduceLrConfig reduce_lr;
  std::uint64_t seed = 42;
};

class Trainer {
 public:
  // The model must have been built with max_batch >= max(batch_size, eval_batch_size).
  // The arithmetic runs on `backend` (train/step_backend.hpp: the CPU's or the
  // GPU's), which must outlive the trainer; `model` stays the host copy of the
  // weights either way. Nothing is printed to `log` by the loop itself (the
  // observers print); it is kept for the trainer's own notes.
  Trainer(const TrainerSettings& settings, Communicator& comm, Model& model, std::ostream& log, StepBackend& backend);

  // Trains on `train`, validating on `val` (may be empty: then callbacks are
  // skipped), from the restored state if restore() was called, telling
  // `observers` (in this order) what happens. Returns early, with
  // result.preempted set, when a stop signal was received on any rank (polled
  // at every step). Throws NumericalFault on a non-finite value.
  TrainResult fit(const MnistSet& train, const MnistSet& val, const std::vector<TrainingObserver*>& observers = {});

  // The state after the last completed epoch, or after the last step when a
  // signal stopped training (optimizer slots included).
  TrainingState state() const;
  // Continue from a checkpoint: the model's weights must be loaded separately.
  // A rate scaled for another rank count is rescaled to this one's.
  void restore(const TrainingState& state);

  // The --lr-scaling factor of this run (1: none).
  double lr_scale() const { return schedule_.scale; }

  // Sharded evaluation of `set` (train/evaluation.hpp), its time counted in the times.
  EvalResult evaluate(const MnistSet& set);

  // Makes every rank's weights and state rank 0's.
  void broadcast_weights();

 private:
  struct Run;        // one fit(): its sampler, observers, result and totals
  struct EpochRun;   // one epoch of it: the start, the carried time and the running sums
  struct StepOutcome;

  // Before the first step: each rank's resumed BatchNorm state, the upload, the position check.
  void begin_fit(Run& run);
  EpochRun begin_epoch(Run& run, int epoch);
  // The fractional epochs done before `step` (counted from the sampler's start) of `epoch`.
  double epoch_time(const Run& run, int epoch, std::int64_t step) const;
  // One training step (counted from the sampler's start), the loss and stop signals agreed by all ranks.
  StepOutcome train_step(Run& run, EpochRun& e, std::int64_t local_step);
  // A stop signal after `step`: the position and partial metrics into state_.
  void stop_after(Run& run, EpochRun& e, std::int64_t local_step, const StepOutcome& outcome);
  // The epoch's reduction, precise BatchNorm, validation and decisions; true: EarlyStopping stops.
  bool end_epoch(Run& run, EpochRun& e);
  // The epoch's metrics over all ranks and the averaged BatchNorm statistics.
  EpochRecord reduce_epoch(Run& run, EpochRun& e);
  // The best weights restored (if asked), the result completed.
  void finish(Run& run);
  // Precise BatchNorm: moving statistics := mean of the batch statistics over
  // the first settings.precise_bn_images samples of this epoch's shard order.
  void recompute_batchnorm_statistics(const MnistSet& train, const ShardSampler& sampler);
  // Collective: every rank's BatchNorm moving statistics into state_.rank_states.
  void gather_rank_states();
  // Throws NumericalFault naming `what` and the position unless `finite` (no NaN or infinity in it).
  void check_finite(bool finite, const char* what, int epoch, std::int64_t step, double lr) const;

  const TrainerSettings settings_;
  Communicator& comm_;
  Model& model_;
  std::ostream& log_;
  Optimizer optimizer_;
  LrSchedule schedule_;
  StepBackend& backend_;
  TrainTimes times_;
  EpochCallbacks callbacks_;
  TrainingState state_;
  StepFault fault_;                    // test hook: MNIST_DDP_FAULT_* (core/fault_injection.hpp)
  SampleTrace trace_;                  // test hook: MNIST_DDP_TRACE_SAMPLES (train/sample_trace.hpp)
};

}  // namespace mnist_ddp

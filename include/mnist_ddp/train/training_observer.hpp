// training_observer.hpp — what the training loop tells the rest of the program.
//
// Trainer::fit does the arithmetic and the collectives; everything that only
// watches the run (the progress display, the learning-rate and early-stopping
// messages, the checkpoint policy) is an observer that fit() calls at fixed
// points, in the order the observers were given. An observer does no
// collective work: the program gives observers to rank 0 only, and the loop's
// decisions never depend on them.
#pragma once

#include <cstdint>

namespace mnist_ddp {

struct EpochRecord;
struct Preemption;
struct TrainingState;
struct TrainResult;

// The end of an epoch, after its decisions were applied.
struct EpochEnd {
  const EpochRecord& record;   // the epoch's metrics; record.lr: the rate used during it
  int epochs;                  // of the run (--epochs)
  bool has_val;                // whether there was a validation set
  const TrainingState& state;  // what a checkpoint of this point holds (its lr: the next epoch's)
};

class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;

  // Before the first step: the position fit() continues from (epochs_done,
  // epoch_steps_done, lr; all 0 but lr on a fresh run), with `steps` per epoch.
  virtual void on_train_begin(const TrainingState& /*state*/, std::int64_t /*steps*/) {}
  // Epoch `epoch` (1-based) of `epochs` starts (or resumes) with `steps` steps.
  virtual void on_epoch_begin(int /*epoch*/, int /*epochs*/, std::int64_t /*steps*/) {}
  // After step `step` (1-based) at a sync point, with the epoch's running means.
  virtual void on_step(std::int64_t /*step*/, double /*loss*/, double /*accuracy*/) {}
  virtual void on_epoch_end(const EpochEnd& /*end*/) {}
  // EarlyStopping ended the run after epoch `epoch` (1-based), just after its on_epoch_end.
  virtual void on_early_stop(int /*epoch*/) {}
  // A stop signal ended the run after a step; `state` continues it. fit()
  // returns right after (no on_train_end).
  virtual void on_stop(const Preemption& /*where*/, const TrainingState& /*state*/) {}
  // The run is complete (best weights restored, if they were).
  virtual void on_train_end(const TrainResult& /*result*/) {}
};

}  // namespace mnist_ddp

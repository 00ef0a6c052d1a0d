// callbacks.cpp — EarlyStopping and ReduceLROnPlateau, transcribed from
// keras/src/callbacks/{early_stopping,reduce_lr_on_plateau}.py (Keras 3) for
// mode='min' on val_loss, so that a run stops and decays its learning rate on
// exactly the epochs the reference Keras script would.
//
// The two callbacks deliberately differ in how they use min_delta and in when
// they count "wait"; those differences are Keras's, and are kept.
#include "mnist_ddp/train/callbacks.hpp"

#include <algorithm>

namespace mnist_ddp {

bool EarlyStopping::on_epoch_end(int epoch, double val_loss) {
  improved_ = false;
  // Keras snapshots the weights on the first epoch it sees even when that
  // epoch is no improvement (a NaN loss): restore_best_weights then has
  // something to restore.
  if (config_.restore_best_weights && best_epoch_ < 0) {
    best_epoch_ = epoch;
    improved_ = true;
  }
  // Keras increments before testing, so a stop happens when the patience-th
  // non-improving epoch ends, not one later.
  ++wait_;
  // Keras negates min_delta in mode 'min': (current - (-min_delta)) < best.
  if (val_loss + config_.min_delta < best_) {
    best_ = val_loss;
    best_epoch_ = epoch;
    improved_ = true;
    wait_ = 0;
    return false;
  }
  return wait_ >= config_.patience && epoch > 0;
}

double ReduceLROnPlateau::on_epoch_end(int /*epoch*/, double val_loss, double lr) {
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    wait_ = 0;
  }
  if (val_loss < best_ - config_.min_delta) {
    best_ = val_loss;
    wait_ = 0;
  } else if (cooldown_counter_ == 0) {
    ++wait_;
    // At min_lr Keras neither reduces nor resets wait; it just keeps counting.
    if (wait_ >= config_.patience && lr > config_.min_lr) {
      lr = std::max(lr * config_.factor, config_.min_lr);
      cooldown_counter_ = config_.cooldown;
      wait_ = 0;
    }
  }
  return lr;
}

Decision EpochCallbacks::on_epoch_end(int epoch, double val_loss, double lr) {
  Decision d;
  // The best epoch is tracked even without early stopping: the trainer still
  // keeps the best weights for the saved model.
  const bool stop = early_.on_epoch_end(epoch, val_loss);
  d.stop = (es_enabled_ && stop) ? 1 : 0;
  d.improved = early_.improved() ? 1 : 0;
  d.best_epoch = early_.best_epoch();
  d.lr = rlr_enabled_ ? reduce_.on_epoch_end(epoch, val_loss, lr) : lr;
  return d;
}

}  // namespace mnist_ddp

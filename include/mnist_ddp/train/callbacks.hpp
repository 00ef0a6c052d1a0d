// callbacks.hpp — EarlyStopping and ReduceLROnPlateau with Keras's semantics,
// and the one Decision record that rank 0 broadcasts after every epoch.
//
// Only rank 0 runs these on the reduced validation metrics; every rank applies
// the Decision it receives, so no rank takes a control-flow decision alone.
// Behaviour follows keras.callbacks (Keras 3) with mode='min':
//  EarlyStopping: wait += 1; if current + min_delta < best (Keras negates
//    min_delta in mode 'min', then tests current - min_delta): best = current,
//    best_epoch = epoch, wait = 0 (improved); else if wait >= patience and
//    epoch > 0: stop. restore_best_weights restores the best epoch's weights at
//    the end of training (whether stopped early or not).
//  ReduceLROnPlateau: if in cooldown: cooldown_counter -= 1, wait = 0.
//    if current < best - min_delta: best = current, wait = 0;
//    elif not in cooldown: wait += 1; if wait >= patience and lr > min_lr:
//    lr = max(lr * factor, min_lr), cooldown_counter = cooldown, wait = 0.
#pragma once

#include <limits>

namespace mnist_ddp {

struct EarlyStoppingConfig {
  bool enabled = true;
  int patience = 5;
  double min_delta = 0.0;
  bool restore_best_weights = true;
};

struct ReduceLrConfig {
  bool enabled = true;
  double factor = 0.5;
  int patience = 3;
  double min_lr = 1e-5;
  double min_delta = 1e-4;
  int cooldown = 0;
};

// The mutable state of both callbacks, saved in checkpoints.
struct CallbacksState {
  double es_best = std::numeric_limits<double>::infinity();
  int es_best_epoch = -1;
  int es_wait = 0;
  double rl_best = std::numeric_limits<double>::infinity();
  int rl_wait = 0;
  int rl_cooldown = 0;
};

class EarlyStopping {
 public:
  explicit EarlyStopping(const EarlyStoppingConfig& config) : config_(config) {}
  // Returns true when training should stop after this epoch (0-based).
  // improved() tells whether this epoch became the new best.
  bool on_epoch_end(int epoch, double val_loss);
  bool improved() const { return improved_; }
  int best_epoch() const { return best_epoch_; }
  double best() const { return best_; }
  int wait() const { return wait_; }
  void save(CallbacksState& s) const { s.es_best = best_; s.es_best_epoch = best_epoch_; s.es_wait = wait_; }
  void load(const CallbacksState& s) { best_ = s.es_best; best_epoch_ = s.es_best_epoch; wait_ = s.es_wait; }

 private:
  EarlyStoppingConfig config_;
  double best_ = std::numeric_limits<double>::infinity();
  int best_epoch_ = -1;
  int wait_ = 0;
  bool improved_ = false;
};

class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(const ReduceLrConfig& config) : config_(config) {}
  // Returns the learning rate to use from the next epoch on.
  double on_epoch_end(int epoch, double val_loss, double lr);
  int wait() const { return wait_; }
  void save(CallbacksState& s) const { s.rl_best = best_; s.rl_wait = wait_; s.rl_cooldown = cooldown_counter_; }
  void load(const CallbacksState& s) { best_ = s.rl_best; wait_ = s.rl_wait; cooldown_counter_ = s.rl_cooldown; }

 private:
  ReduceLrConfig config_;
  double best_ = std::numeric_limits<double>::infinity();
  int wait_ = 0;
  int cooldown_counter_ = 0;
};

// What every rank does after an epoch, as decided by rank 0.
struct Decision {
  double lr = 0.0;        // learning rate for the next epoch
  int stop = 0;           // 1: end training now
  int improved = 0;       // 1: this epoch is the new best (keep its weights)
  int best_epoch = -1;    // 0-based epoch of the best val_loss so far
};

// Both callbacks together, as the trainer uses them.
class EpochCallbacks {
 public:
  EpochCallbacks(const EarlyStoppingConfig& es, const ReduceLrConfig& rlr) : early_(es), reduce_(rlr), es_enabled_(es.enabled), rlr_enabled_(rlr.enabled) {}
  Decision on_epoch_end(int epoch, double val_loss, double lr);
  CallbacksState state() const {
    CallbacksState s;
    early_.save(s);
    reduce_.save(s);
    return s;
  }
  void restore(const CallbacksState& s) {
    early_.load(s);
    reduce_.load(s);
  }

 private:
  EarlyStopping early_;
  ReduceLROnPlateau reduce_;
  bool es_enabled_;
  bool rlr_enabled_;
};

}  // namespace mnist_ddp

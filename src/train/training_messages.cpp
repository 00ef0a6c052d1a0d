// training_messages.cpp — the resume, learning-rate, early-stopping and
// best-weights lines of a training run.
#include "mnist_ddp/train/training_messages.hpp"

#include "mnist_ddp/train/trainer.hpp"

namespace mnist_ddp {

TrainingMessages::TrainingMessages(std::ostream& out, int patience) : out_(out), patience_(patience) {}

void TrainingMessages::on_train_begin(const TrainingState& s, std::int64_t steps) {
  if (s.epoch_steps_done > 0)
    out_ << "Resuming epoch " << s.epochs_done + 1 << " after step " << s.epoch_steps_done << " of " << steps
         << " (learning rate " << s.lr << ")\n";
  else if (s.epochs_done > 0)
    out_ << "Resuming after epoch " << s.epochs_done << " (learning rate " << s.lr << ")\n";
}

void TrainingMessages::on_epoch_end(const EpochEnd& end) {
  if (end.state.lr != end.record.lr_target)
    out_ << "ReduceLROnPlateau: learning rate " << end.record.lr_target << " -> " << end.state.lr << '\n';
}

void TrainingMessages::on_early_stop(int epoch) {
  out_ << "EarlyStopping: no val_loss improvement for " << patience_ << " epochs; stopping after epoch " << epoch
       << '\n';
}

void TrainingMessages::on_train_end(const TrainResult& result) {
  if (result.restored_best) out_ << "Restoring the weights of the best epoch (" << result.best_epoch << ")\n";
}

}  // namespace mnist_ddp

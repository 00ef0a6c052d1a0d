// training_messages.hpp — the lines that tell the user what the run decided:
// where a resumed run continues, ReduceLROnPlateau's new learning rate,
// EarlyStopping's stop and the restoring of the best epoch's weights.
#pragma once

#include <ostream>

#include "mnist_ddp/train/training_observer.hpp"

namespace mnist_ddp {

class TrainingMessages final : public TrainingObserver {
 public:
  // patience: EarlyStopping's (--patience), which its message names.
  TrainingMessages(std::ostream& out, int patience);

  void on_train_begin(const TrainingState& state, std::int64_t steps) override;
  void on_epoch_end(const EpochEnd& end) override;
  void on_early_stop(int epoch) override;
  void on_train_end(const TrainResult& result) override;

 private:
  std::ostream& out_;
  int patience_;
};

}  // namespace mnist_ddp

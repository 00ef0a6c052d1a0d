// progress_observer.hpp — the progress display (train/progress.hpp) as an
// observer of training: the live bar or nothing during an epoch, the epoch
// line at its end, and the end of the bar's line when a signal stops the run.
#pragma once

#include <ostream>

#include "mnist_ddp/train/progress.hpp"
#include "mnist_ddp/train/training_observer.hpp"

namespace mnist_ddp {

class ProgressObserver final : public TrainingObserver {
 public:
  // interactive: draw the live bar (--progress bar, or auto on a terminal).
  ProgressObserver(std::ostream& out, bool interactive);

  void on_epoch_begin(int epoch, int epochs, std::int64_t steps) override;
  void on_step(std::int64_t step, double loss, double accuracy) override;
  void on_epoch_end(const EpochEnd& end) override;
  void on_stop(const Preemption& where, const TrainingState& state) override;

 private:
  std::ostream& out_;
  bool interactive_;
  ProgressDisplay display_;
};

}  // namespace mnist_ddp

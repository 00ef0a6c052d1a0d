// progress_observer.cpp — the progress display, driven by the training loop.
#include "mnist_ddp/train/progress_observer.hpp"

#include "mnist_ddp/train/trainer.hpp"

namespace mnist_ddp {

ProgressObserver::ProgressObserver(std::ostream& out, bool interactive)
    : out_(out), interactive_(interactive), display_(out, interactive) {}

void ProgressObserver::on_epoch_begin(int epoch, int epochs, std::int64_t steps) {
  display_.begin_epoch(epoch, epochs, steps);
}

void ProgressObserver::on_step(std::int64_t step, double loss, double accuracy) {
  display_.update(step, loss, accuracy);
}

void ProgressObserver::on_epoch_end(const EpochEnd& end) {
  const EpochRecord& r = end.record;
  display_.end_epoch(EpochSummary{r.epoch, end.epochs, r.seconds, r.loss, r.accuracy, r.val_loss, r.val_accuracy,
                                  end.has_val, r.lr, r.images_per_second});
}

void ProgressObserver::on_stop(const Preemption&, const TrainingState&) {
  if (interactive_) out_ << '\n';  // end the live bar's line before the preemption message
}

}  // namespace mnist_ddp

// checkpoint_policy.cpp — the checkpoints of a training run and their messages.
#include "mnist_ddp/train/checkpoint_policy.hpp"

#include <sstream>
#include <utility>

#include "mnist_ddp/core/signals.hpp"
#include "mnist_ddp/train/trainer.hpp"

namespace mnist_ddp {

std::string describe_preemption(const Preemption& p, int world_size) {
  std::ostringstream where;
  where << "Preempted by " << signal_name(p.signal) << " at epoch " << p.epoch << " step " << p.step << " (of "
        << p.steps << "; received by " << p.ranks << " of " << world_size << (world_size == 1 ? " rank" : " ranks")
        << ")";
  return where.str();
}

CheckpointPolicy::CheckpointPolicy(CheckpointWriter write, std::string path, int every, int world_size,
                                   std::ostream& log)
    : write_(std::move(write)), path_(std::move(path)), every_(every), world_size_(world_size), log_(log) {}

void CheckpointPolicy::on_epoch_end(const EpochEnd& end) {
  const TrainingState& state = end.state;
  const bool last = state.stopped || state.epochs_done == end.epochs;
  if (!write_ || (state.epochs_done % every_ != 0 && !last)) return;
  write_(state);
  log_ << "Checkpoint written to " << path_ << " (epoch " << state.epochs_done << ")\n";
}

void CheckpointPolicy::on_stop(const Preemption& where, const TrainingState& state) {
  if (!write_) {
    log_ << describe_preemption(where, world_size_) << ": no --checkpoint was given, nothing was saved\n";
  } else {
    write_(state);
    log_ << describe_preemption(where, world_size_) << ": checkpoint written to " << path_
         << "; resume with --resume auto\n";
  }
  log_.flush();
}

}  // namespace mnist_ddp

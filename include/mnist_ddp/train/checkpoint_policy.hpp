// checkpoint_policy.hpp — when a training run writes its checkpoint: every
// `every` epochs (--checkpoint-every), after the last epoch (also when
// EarlyStopping ends the run), and when a stop signal preempts it. The policy
// decides and reports; how a checkpoint is written (the file, its rotation) is
// the one write function it is given.
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include "mnist_ddp/train/training_observer.hpp"

namespace mnist_ddp {

// Writes the checkpoint of `state` (with the model's weights and BatchNorm state).
using CheckpointWriter = std::function<void(const TrainingState& state)>;

// "Preempted by SIGTERM at epoch 2 step 10 (of 28; received by 1 of 1 rank)".
std::string describe_preemption(const Preemption& where, int world_size);

class CheckpointPolicy final : public TrainingObserver {
 public:
  // `write` empty: no checkpoints (no --checkpoint); a preemption then says
  // that nothing was saved. `path` names the checkpoint in messages.
  CheckpointPolicy(CheckpointWriter write, std::string path, int every, int world_size, std::ostream& log);

  void on_epoch_end(const EpochEnd& end) override;
  void on_stop(const Preemption& where, const TrainingState& state) override;

 private:
  CheckpointWriter write_;
  std::string path_;
  int every_;
  int world_size_;
  std::ostream& log_;
};

}  // namespace mnist_ddp

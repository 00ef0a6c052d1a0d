// checkpoint.hpp — a training run saved at an epoch boundary (or between two
// steps, when a stop signal ended it), and read back.
//
// A checkpoint is a model file (keras_h5.hpp: Keras can load its weights too)
// whose /mnist_ddp group also holds the TrainingState: epoch and step within
// it, learning rate, callback state, history, the optimizer's moments and step
// count, and the best epoch's weights. Resuming with the same seed and rank
// count continues the run bit for bit: the random streams are addressed by
// (seed, epoch, sample), so they need no saved position.
//
// Writing keeps the checkpoint before as "<path>.prev": the new one is written
// completely (and synced) as "<path>.next", then <path> is renamed to .prev
// and .next to <path>. A crash at any moment leaves at least one complete
// checkpoint among <path> and <path>.prev; `--resume auto` takes the newest
// of them that loads.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/train/trainer.hpp"

namespace mnist_ddp {

nlohmann::json history_to_json(const std::vector<EpochRecord>& history);

// Writes the checkpoint atomically, keeping the one before as "<path>.prev"
// (rank 0 only calls it).
void save_checkpoint(const std::string& path, Model& model, const TrainingState& state, const Config& config,
                     int world_size);

// Loads weights and state. A file that is not a checkpoint of this program, was
// made for another architecture or optimizer, or is corrupt → InputError naming
// the file and the problem.
TrainingState load_checkpoint(const std::string& path, Model& model, const Config& config, int world_size,
                              std::ostream& warnings);

// Where the checkpoint before `path` is kept.
std::string previous_checkpoint_path(const std::string& path);

// `--resume auto`: the newest valid checkpoint of `path` — `path` itself, else
// "<path>.prev" — loaded into `model`. `notes` says what was found and why a
// file was passed over. Returns the path loaded, or "" when neither exists
// (start from scratch); throws InputError when files exist but none loads.
struct ResumePoint {
  std::string path;      // empty: nothing to resume
  TrainingState state;
};
ResumePoint load_newest_checkpoint(const std::string& path, Model& model, const Config& config, int world_size,
                                   std::ostream& notes);

}  // namespace mnist_ddp

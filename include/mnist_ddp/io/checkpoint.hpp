// checkpoint.hpp — a training run saved at an epoch boundary (or between two
// steps, when a stop signal ended it), and read back: one checkpoint file.
//
// A checkpoint is a model file (keras_h5.hpp: Keras can load its weights too)
// whose /mnist_ddp group also holds the TrainingState: epoch and step within
// it, learning rate, callback state, history, the optimizer's moments and step
// count, and the best epoch's weights. Resuming with the same seed and rank
// count continues the run bit for bit: the random streams are addressed by
// (seed, epoch, sample), so they need no saved position.
//
// Keeping the checkpoint before, and `--resume auto`'s choice between the two,
// are the checkpoint store's (checkpoint_store.hpp).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/optimizer.hpp"
#include "mnist_ddp/train/trainer.hpp"

namespace mnist_ddp {

// What a checkpoint records of the run beyond the TrainingState, and what
// loading checks against: the optimizer must match (its moments are in the
// file); another seed or rank count only warns (training continues, not bit
// for bit). cli/checkpoint_settings.hpp makes it from the Config.
struct CheckpointSettings {
  OptimizerKind optimizer = OptimizerKind::kAdam;
  std::uint64_t seed = 42;
  int world_size = 1;
  nlohmann::json run_config = nlohmann::json::object();  // every option, saved as "config" for the reader
};

nlohmann::json history_to_json(const std::vector<EpochRecord>& history);

// Writes one checkpoint file atomically (io/atomic_file.hpp). No rotation:
// CheckpointStore::save keeps the one before.
void write_checkpoint(const std::string& path, Model& model, const TrainingState& state,
                      const CheckpointSettings& settings);

// Loads weights and state. A file that is not a checkpoint of this program, was
// made for another architecture or optimizer, or is corrupt → InputError naming
// the file and the problem; another seed or rank count → a line on `warnings`.
TrainingState load_checkpoint(const std::string& path, Model& model, const CheckpointSettings& settings,
                              std::ostream& warnings);

}  // namespace mnist_ddp

// checkpoint.hpp — a training run saved at an epoch boundary, and read back.
//
// A checkpoint is a model file (keras_h5.hpp: Keras can load its weights too)
// whose /mnist_ddp group also holds the TrainingState: epoch, learning rate,
// callback state, history, the optimizer's moments and step count, and the
// best epoch's weights. Resuming with the same seed and rank count continues
// the run bit for bit: the random streams are addressed by (seed, epoch,
// sample), so they need no saved position.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/train/trainer.hpp"

namespace mnist_ddp {

nlohmann::json history_to_json(const std::vector<EpochRecord>& history);

// Writes the checkpoint atomically (rank 0 only calls it).
void save_checkpoint(const std::string& path, Model& model, const TrainingState& state, const Config& config,
                     int world_size);

// Loads weights and state. A file that is not a checkpoint of this program, was
// made for another architecture or optimizer, or is corrupt → InputError naming
// the file and the problem.
TrainingState load_checkpoint(const std::string& path, Model& model, const Config& config, int world_size,
                              std::ostream& warnings);

}  // namespace mnist_ddp

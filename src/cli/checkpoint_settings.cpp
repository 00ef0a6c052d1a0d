// checkpoint_settings.cpp — Config to CheckpointSettings (cli/checkpoint_settings.hpp).
#include "mnist_ddp/cli/checkpoint_settings.hpp"

#include "mnist_ddp/io/report.hpp"

namespace mnist_ddp {

CheckpointSettings checkpoint_settings(const Config& config, int world_size) {
  CheckpointSettings s;
  s.optimizer = config.optimizer;
  s.seed = config.seed;
  s.world_size = world_size;
  s.run_config = config_to_json(config);  // the file says how the run was made
  return s;
}

}  // namespace mnist_ddp

// checkpoint_settings.hpp — the few settings a checkpoint records and checks
// (io/checkpoint.hpp), taken from the command line's Config: io/ does not
// know the Config, cli/ knows both.
#pragma once

#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/io/checkpoint.hpp"

namespace mnist_ddp {

// The settings of a run of `world_size` ranks configured by `config`.
CheckpointSettings checkpoint_settings(const Config& config, int world_size);

}  // namespace mnist_ddp

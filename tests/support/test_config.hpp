// test_config.hpp — the quiet Config the training tests start from.
#pragma once

#include "mnist_ddp/cli/config.hpp"

namespace mnist_ddp::test_support {

// Config defaults with no progress output and the given sizes; tests set the rest.
Config quiet_config(int epochs, int batch_size, int eval_batch_size);

}  // namespace mnist_ddp::test_support

// step_settings.cpp — Config → StepSettings.
#include "mnist_ddp/cli/step_settings.hpp"

#include <algorithm>

namespace mnist_ddp {

StepSettings step_settings(const Config& config) {
  StepSettings s;
  s.seed = config.seed;
  s.max_batch = std::max(config.batch_size, config.eval_batch_size);
  s.bucket_bytes = static_cast<std::size_t>(config.bucket_kb) * 1024;
  s.comm_timeout = config.comm_timeout;
  s.sync_bn = config.sync_bn;
  return s;
}

}  // namespace mnist_ddp

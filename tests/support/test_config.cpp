// test_config.cpp — see test_config.hpp.
#include "support/test_config.hpp"

namespace mnist_ddp::test_support {

Config quiet_config(int epochs, int batch_size, int eval_batch_size) {
  Config c;
  c.epochs = epochs;
  c.batch_size = batch_size;
  c.eval_batch_size = eval_batch_size;
  c.progress = ProgressMode::kNone;
  return c;
}

}  // namespace mnist_ddp::test_support

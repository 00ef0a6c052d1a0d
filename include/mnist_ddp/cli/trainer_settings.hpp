// trainer_settings.hpp — the command line's Config, narrowed to what the
// training loop reads (train/trainer.hpp), so that train/ does not depend on
// cli/. Header-only, beside step_settings and checkpoint_settings.
#pragma once

#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/train/trainer.hpp"

namespace mnist_ddp {

inline TrainerSettings trainer_settings(const Config& c) {
  TrainerSettings s;
  s.epochs = c.epochs;
  s.batch_size = c.batch_size;
  s.accumulate = c.accumulate;
  s.eval_batch_size = c.eval_batch_size;
  s.lr = c.lr;
  s.lr_scaling = c.lr_scaling;
  s.warmup_epochs = c.warmup_epochs;
  s.optimizer.kind = c.optimizer;
  s.optimizer.momentum = c.momentum;
  s.augment = c.augment;
  s.precise_bn_images = c.precise_bn_images;
  s.early_stopping = c.early_stopping;
  s.reduce_lr = c.reduce_lr;
  s.seed = c.seed;
  return s;
}

}  // namespace mnist_ddp

// trainer.hpp — the data-parallel training loop and sharded evaluation.
//
// Every rank runs the same loop: its shard's batch (augmented) → forward →
// softmax cross-entropy → backward → gradients averaged over the ranks → the
// same optimizer update everywhere. After each epoch the BatchNorm moving
// statistics are averaged over the ranks, the validation set is evaluated in
// shards and reduced, rank 0 runs EarlyStopping and ReduceLROnPlateau, and its
// Decision is broadcast and applied by all. Only rank 0 prints.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <vector>

#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/data/idx.hpp"
#include "mnist_ddp/data/sampler.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/optimizer.hpp"
#include "mnist_ddp/train/callbacks.hpp"
#include "mnist_ddp/train/metrics.hpp"

namespace mnist_ddp {

struct EpochRecord {
  int epoch = 0;  // 1-based
  double loss = 0, accuracy = 0;
  double val_loss = 0, val_accuracy = 0;
  double lr = 0;  // the rate used during the epoch
  double seconds = 0;
  double images_per_second = 0;
};

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
  std::int64_t count = 0;
  ConfusionMatrix confusion;
};

struct TrainTimes {
  double data = 0, compute = 0, communication = 0, evaluation = 0;
};

// Everything that continues a run at an epoch boundary, bit for bit: with the
// model's weights and BatchNorm state, this is what a checkpoint holds. The
// random streams need no state: they are addressed by (seed, epoch, sample).
struct TrainingState {
  int epochs_done = 0;
  bool stopped = false;                  // EarlyStopping ended the run
  double lr = 0;
  CallbacksState callbacks;
  int best_epoch = -1;                   // 1-based, -1 if none yet
  std::vector<float> best_params, best_state;
  std::vector<EpochRecord> history;
  std::int64_t optimizer_iterations = 0;
  std::vector<float> optimizer_slots;
};

struct TrainResult {
  std::vector<EpochRecord> history;
  int best_epoch = -1;               // 1-based, -1 if none
  bool stopped_early = false;
  bool restored_best = false;
  std::int64_t steps = 0;
  std::int64_t shard_size = 0;       // training samples per rank per epoch
  double train_images_per_second = 0;  // global, training steps only
  TrainTimes times;                  // this rank's
};

class Trainer {
 public:
  // The model must have been built with max_batch >= max(batch_size, eval_batch_size).
  Trainer(const Config& config, Communicator& comm, Model& model, std::ostream& log);

  // Called on every rank after each epoch with the state to checkpoint.
  using EpochHook = std::function<void(const TrainingState&)>;

  // Trains on `train`, validating on `val` (may be empty: then callbacks are
  // skipped), from the restored state if restore() was called.
  TrainResult fit(const MnistSet& train, const MnistSet& val, const EpochHook& after_epoch = {});

  // The state after the last completed epoch (optimizer slots included).
  TrainingState state() const;
  // Continue from a checkpoint: the model's weights must be loaded separately.
  void restore(const TrainingState& state);

  // Sharded evaluation of `set` (inference mode), reduced over the ranks.
  EvalResult evaluate(const MnistSet& set);

  // Makes every rank's weights and state rank 0's.
  void broadcast_weights();

 private:
  void fill_batch(const MnistSet& set, const std::vector<std::int64_t>& ids, std::uint32_t epoch, bool augment);
  // Precise BatchNorm: moving statistics := mean of the batch statistics over
  // the first config.precise_bn_images samples of this epoch's shard order.
  void recompute_batchnorm_statistics(const MnistSet& train, const ShardSampler& sampler);

  const Config& config_;
  Communicator& comm_;
  Model& model_;
  std::ostream& log_;
  Optimizer optimizer_;
  std::vector<float> x_;               // (batch, 28, 28, 1)
  std::vector<std::uint8_t> y_;        // (batch)
  std::vector<float> dlogits_;         // (batch, classes)
  TrainTimes times_;
  EpochCallbacks callbacks_;
  TrainingState state_;
};

}  // namespace mnist_ddp

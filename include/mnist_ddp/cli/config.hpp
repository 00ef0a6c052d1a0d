// config.hpp — the run's configuration and its command line (Boost.Program_options).
//
//   mnist_ddp [train] [options]
//   mnist_ddp evaluate --model FILE [options]
//   mnist_ddp predict --model FILE IMAGE...
//
// parse_command_line() validates every value it can without reading data
// (ranges, choices); checks that need the data (batch larger than the shard,
// a missing directory) happen when the data is loaded. Every problem is a
// UsageError whose message names the option and what is wrong; main() prints
// it and exits with code 2 on every rank.
//
// Config states the defaults; each option (its name, the member it sets, its
// conversion and range, its --help line and its key in the report) is declared
// once, in cli/option_table.hpp, from which the parser, --help and
// config_to_json are derived. The enums belong to the parts that use them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnist_ddp/core/device_choice.hpp"
#include "mnist_ddp/cpu/conv_passes.hpp"
#include "mnist_ddp/nn/optimizer.hpp"
#include "mnist_ddp/train/callbacks.hpp"
#include "mnist_ddp/train/lr_schedule.hpp"
#include "mnist_ddp/train/progress.hpp"

namespace mnist_ddp {

struct Config {
  std::string command = "train";   // train | evaluate | predict
  std::string data_dir = "data/mnist";
  int epochs = 10;                 // about 8 minutes on a 2-core machine (see README)
  int batch_size = 64;             // per process: one micro-batch
  int accumulate = 1;              // micro-batches per update (--accumulate)
  int eval_batch_size = 500;       // per process, for validation and test
  double lr = 1e-3;                // for one --batch-size batch; scaled by --lr-scaling
  // The rate for the global batch (train/lr_schedule.hpp). Off by default: the
  // default optimizer is Adam, for which the linear rule (derived for SGD)
  // overshoots; sqrt suits Adam and RMSprop, linear SGD. The warm-up only acts
  // when the rate is scaled (one epoch: Goyal et al.'s 5 of 90, for 10 epochs).
  LrScaling lr_scaling = LrScaling::kNone;
  double warmup_epochs = 1.0;
  OptimizerKind optimizer = OptimizerKind::kAdam;
  double momentum = 0.9;           // SGD momentum; RMSprop rho is 0.9 too (Keras default)
  double val_split = 0.1;
  bool augment = true;
  // "Precise BatchNorm": at the end of every epoch the BatchNorm moving
  // statistics are recomputed as the plain mean of the batch statistics over
  // this many training images per rank (no augmentation, no dropout, final
  // weights), replacing the lagging moving averages. 0: Keras's moving averages.
  std::int64_t precise_bn_images = 4096;
  EarlyStoppingConfig early_stopping;    // --patience, --no-early-stopping
  ReduceLrConfig reduce_lr;              // --lr-patience, --lr-factor, --min-lr, --no-reduce-lr
  std::uint64_t seed = 42;
  Device device = Device::kAuto;
  // Gradient all-reduce buckets (KiB) started during the backward pass;
  // 0: one blocking all-reduce after backward.
  int bucket_kb = 0;
  bool sync_bn = false;            // --sync-bn: BatchNorm statistics over all ranks (both backends)
  int threads = 0;                 // 0: cores of the node / ranks on the node
  // The CPU convolutions: the own Winograd where it applies, else oneDNN's direct (cpu/conv_passes.hpp).
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kWinograd;
  std::int64_t train_limit = 0;    // 0: all training images
  std::int64_t test_limit = 0;     // 0: all test images
  std::string output = "mnist_cnn_model.h5";
  std::string report;              // empty: no JSON report
  // evaluate / predict: the model file to read (--model).
  std::string model = "mnist_cnn_model.h5";
  // predict: the image files (positional arguments after the command).
  std::vector<std::string> images;
  // train: write a checkpoint to this path every `checkpoint_every` epochs, and
  // when a stop signal arrives (empty: none); the one before is kept as
  // "<checkpoint>.prev". Resume from a checkpoint (empty: start afresh); "auto":
  // the newest valid one of --checkpoint and its .prev, or afresh if there is none.
  std::string checkpoint;
  int checkpoint_every = 1;
  std::string resume;
  // Seconds a blocking collective may wait for the other ranks before the
  // watchdog ends the job (a rank died or hangs); 0: wait forever.
  double comm_timeout = 60;
  ProgressMode progress = ProgressMode::kAuto;
};

struct ParsedCommandLine {
  Config config;
  bool help = false;               // --help was given: usage text is in `help_text`
  bool version = false;            // --version
  std::string help_text;
};

// Parses argv (argv[0] is the program name). Throws UsageError.
ParsedCommandLine parse_command_line(int argc, const char* const* argv);

// The config as JSON (every option, with its value): the report's "config".
nlohmann::json config_to_json(const Config& config);

}  // namespace mnist_ddp

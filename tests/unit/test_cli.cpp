// test_cli.cpp — the command line: defaults, every option's mapping, and the
// message of every kind of mistake (each must name the option and the value).
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/core/check.hpp"

namespace mnist_ddp {
namespace {

ParsedCommandLine parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv = {"mnist_ddp"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

// The UsageError message for `args`, or "(parsed)" when they parse.
std::string error_of(std::initializer_list<const char*> args) {
  try {
    parse(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(parsed)";
}

TEST(CliParse, NoArgumentsGiveTheDefaults) {
  const ParsedCommandLine p = parse({});
  EXPECT_FALSE(p.help);
  EXPECT_FALSE(p.version);
  // Every field, compared through its JSON form.
  EXPECT_EQ(config_to_json(p.config), config_to_json(Config{}));
}

TEST(CliParse, TrainCommandIsOptional) {
  EXPECT_EQ(parse({"train"}).config.command, "train");
  EXPECT_EQ(parse({"--epochs", "3", "train"}).config.epochs, 3);
}

TEST(CliParse, EvaluateAndPredictCommands) {
  const Config e = parse({"evaluate", "--model", "m.h5", "--test-limit", "100"}).config;
  EXPECT_EQ(e.command, "evaluate");
  EXPECT_EQ(e.model, "m.h5");
  EXPECT_EQ(e.test_limit, 100);
  EXPECT_TRUE(e.images.empty());
  EXPECT_EQ(parse({"evaluate"}).config.model, Config{}.model);  // the default model file

  // Images may come before, between and after the options.
  const Config p = parse({"predict", "a.png", "--model", "m.h5", "b.pgm", "c.png"}).config;
  EXPECT_EQ(p.command, "predict");
  EXPECT_EQ(p.model, "m.h5");
  EXPECT_EQ(p.images, (std::vector<std::string>{"a.png", "b.pgm", "c.png"}));
  EXPECT_EQ(parse({"--model=x.h5", "predict", "one.png"}).config.images, std::vector<std::string>{"one.png"});
}

TEST(CliParse, CheckpointOptions) {
  const Config c = parse({"--checkpoint", "ck.h5", "--checkpoint-every", "3", "--resume", "old.h5"}).config;
  EXPECT_EQ(c.checkpoint, "ck.h5");
  EXPECT_EQ(c.checkpoint_every, 3);
  EXPECT_EQ(c.resume, "old.h5");
  const Config d = parse({}).config;
  EXPECT_EQ(d.checkpoint, "");
  EXPECT_EQ(d.checkpoint_every, 1);
  EXPECT_EQ(d.resume, "");
}

TEST(CliErrors, Commands) {
  EXPECT_EQ(error_of({"predict"}), "predict: give at least one image file");
  EXPECT_EQ(error_of({"predict", "--model", "m.h5"}), "predict: give at least one image file");
  EXPECT_EQ(error_of({"--model", "m.h5"}), "--model is for evaluate and predict; train writes --output");
  EXPECT_EQ(error_of({"train", "--model", "m.h5"}), "--model is for evaluate and predict; train writes --output");
  EXPECT_EQ(error_of({"evaluate", "--model", ""}), "--model: must not be empty");
  EXPECT_EQ(error_of({"--checkpoint-every", "0"}), "--checkpoint-every: must be a positive integer, got '0'");
  EXPECT_EQ(error_of({"--checkpoint-every", "x"}), "--checkpoint-every: expected an integer, got 'x'");
  EXPECT_EQ(error_of({"train", "a.png"}), "unexpected argument 'a.png'");
}

TEST(CliParse, EveryOptionMapsToItsField) {
  const Config c = parse({"train", "--data-dir", "/d", "--epochs", "15", "--batch-size", "64",
                          "--eval-batch-size=1000", "--lr", "2e-3", "--optimizer", "sgd", "--momentum", "0.5",
                          "--val-split", "0", "--no-augment", "--patience", "0", "--no-early-stopping",
                          "--lr-patience", "4", "--lr-factor", "0.2", "--min-lr", "0", "--no-reduce-lr",
                          "--seed", "18446744073709551615", "--device", "cpu", "--threads", "8",
                          "--train-limit", "5000", "--test-limit", "1000", "--output", "m.h5", "--report",
                          "r.json", "--progress", "none"})
                       .config;
  EXPECT_EQ(c.data_dir, "/d");
  EXPECT_EQ(c.epochs, 15);
  EXPECT_EQ(c.batch_size, 64);
  EXPECT_EQ(c.eval_batch_size, 1000);
  EXPECT_DOUBLE_EQ(c.lr, 2e-3);
  EXPECT_EQ(c.optimizer, OptimizerKind::kSgd);
  EXPECT_DOUBLE_EQ(c.momentum, 0.5);
  EXPECT_EQ(c.val_split, 0.0);
  EXPECT_FALSE(c.augment);
  EXPECT_EQ(c.early_stopping.patience, 0);
  EXPECT_FALSE(c.early_stopping.enabled);
  EXPECT_EQ(c.reduce_lr.patience, 4);
  EXPECT_DOUBLE_EQ(c.reduce_lr.factor, 0.2);
  EXPECT_EQ(c.reduce_lr.min_lr, 0.0);
  EXPECT_FALSE(c.reduce_lr.enabled);
  EXPECT_EQ(c.seed, 18446744073709551615ull);
  EXPECT_EQ(c.device, Device::kCpu);
  EXPECT_EQ(c.threads, 8);
  EXPECT_EQ(c.train_limit, 5000);
  EXPECT_EQ(c.test_limit, 1000);
  EXPECT_EQ(c.output, "m.h5");
  EXPECT_EQ(c.report, "r.json");
  EXPECT_EQ(c.progress, ProgressMode::kNone);
}

TEST(CliParse, ChoicesAndNegativeValues) {
  EXPECT_EQ(parse({"--optimizer", "RMSprop"}).config.optimizer, OptimizerKind::kRmsprop);
  EXPECT_EQ(parse({"--device=cuda"}).config.device, Device::kCuda);
  EXPECT_EQ(parse({"--progress", "bar"}).config.progress, ProgressMode::kBar);
  EXPECT_EQ(parse({}).config.conv_algorithm, ConvAlgorithm::kWinograd);
  EXPECT_EQ(parse({"--conv-algorithm", "direct"}).config.conv_algorithm, ConvAlgorithm::kDirect);
  // A negative value after a space is a value, not a short option.
  EXPECT_EQ(error_of({"--lr", "-0.5"}), "--lr: must be a positive number, got '-0.5'");
}

TEST(CliParse, HelpAndVersion) {
  const ParsedCommandLine p = parse({"--help"});
  EXPECT_TRUE(p.help);
  EXPECT_TRUE(parse({"-h"}).help);
  EXPECT_TRUE(parse({"--version"}).version);
  const std::string& h = p.help_text;
  EXPECT_EQ(h.rfind("Usage: mnist_ddp [train] [options]\n", 0), 0u);
  for (const char* part : {"Commands:", "evaluate --model FILE", "predict --model FILE IMAGE...",
                           "--checkpoint-every N (=1)", "--resume FILE", "--model FILE (="})
    EXPECT_NE(h.find(part), std::string::npos) << part;
  for (const char* part : {"mpirun", "srun", "batch x ranks", "Data:", "Model & optimizer:",
                           "Training & callbacks:", "Runtime:", "Output:", "Exit codes:", "2  bad usage or input"})
    EXPECT_NE(h.find(part), std::string::npos) << part;
  // Defaults shown are the Config's.
  const Config d;
  EXPECT_NE(h.find("--batch-size N (=" + std::to_string(d.batch_size) + ")"), std::string::npos);
  EXPECT_NE(h.find("--optimizer NAME (=" + std::string(to_string(d.optimizer)) + ")"), std::string::npos);
  EXPECT_NE(h.find("--output FILE (=" + d.output + ")"), std::string::npos);
  EXPECT_NE(h.find("--lr X (=0.001)"), std::string::npos);
  EXPECT_EQ(h.find(" \n"), std::string::npos);  // no trailing blanks
}

TEST(CliErrors, Syntax) {
  EXPECT_EQ(error_of({"--foo"}), "unrecognised option '--foo'");
  EXPECT_EQ(error_of({"--foo=1"}), "unrecognised option '--foo'");
  EXPECT_EQ(error_of({"--epo", "3"}), "unrecognised option '--epo'");  // no abbreviations
  EXPECT_EQ(error_of({"--epochs"}), "--epochs: missing value");
  EXPECT_EQ(error_of({"--epochs="}), "--epochs: missing value");
  EXPECT_EQ(error_of({"--epochs", "--lr", "1"}), "--epochs: missing value");
  EXPECT_EQ(error_of({"--no-augment=yes"}), "--no-augment: is a flag and takes no value");
  EXPECT_EQ(error_of({"--epochs", "2", "--epochs", "3"}), "--epochs: given more than once");
  EXPECT_EQ(error_of({"train", "extra"}), "unexpected argument 'extra'");
  EXPECT_EQ(error_of({"bogus"}), "unknown command 'bogus' (valid commands: train, evaluate, predict)");
  EXPECT_EQ(error_of({"evaluate", "extra"}), "unexpected argument 'extra'");
}

TEST(CliErrors, Numbers) {
  EXPECT_EQ(error_of({"--epochs", "abc"}), "--epochs: expected an integer, got 'abc'");
  EXPECT_EQ(error_of({"--epochs", "2.5"}), "--epochs: expected an integer, got '2.5'");
  EXPECT_EQ(error_of({"--epochs", "0"}), "--epochs: must be a positive integer, got '0'");
  EXPECT_EQ(error_of({"--epochs", "99999999999"}), "--epochs: value '99999999999' is out of range");
  EXPECT_EQ(error_of({"--batch-size", "0"}), "--batch-size: must be a positive integer, got '0'");
  EXPECT_EQ(error_of({"--eval-batch-size", "-1"}), "--eval-batch-size: must be a positive integer, got '-1'");
  EXPECT_EQ(error_of({"--lr", "0"}), "--lr: must be a positive number, got '0'");
  EXPECT_EQ(error_of({"--lr", "inf"}), "--lr: expected a finite number, got 'inf'");
  EXPECT_EQ(error_of({"--lr", "nan"}), "--lr: expected a finite number, got 'nan'");
  EXPECT_EQ(error_of({"--lr", "1e-3x"}), "--lr: expected a number, got '1e-3x'");
  EXPECT_EQ(error_of({"--val-split", "1"}), "--val-split: must be in [0, 1), got '1'");
  EXPECT_EQ(error_of({"--val-split", "-0.1"}), "--val-split: must be in [0, 1), got '-0.1'");
  EXPECT_EQ(error_of({"--patience", "-1"}), "--patience: must be a non-negative integer, got '-1'");
  EXPECT_EQ(error_of({"--lr-patience", "-2"}), "--lr-patience: must be a non-negative integer, got '-2'");
  EXPECT_EQ(error_of({"--lr-factor", "1"}), "--lr-factor: must be in (0, 1), got '1'");
  EXPECT_EQ(error_of({"--lr-factor", "0"}), "--lr-factor: must be in (0, 1), got '0'");
  EXPECT_EQ(error_of({"--min-lr", "-1e-5"}), "--min-lr: must be non-negative, got '-1e-5'");
  EXPECT_EQ(error_of({"--momentum", "1"}), "--momentum: must be in [0, 1), got '1'");
  EXPECT_EQ(error_of({"--threads", "-1"}), "--threads: must be a non-negative integer, got '-1'");
  EXPECT_EQ(error_of({"--train-limit", "-5"}), "--train-limit: must be a non-negative integer, got '-5'");
  EXPECT_EQ(error_of({"--test-limit", "x"}), "--test-limit: expected an integer, got 'x'");
  EXPECT_EQ(error_of({"--seed", "-1"}), "--seed: expected a non-negative integer, got '-1'");
  EXPECT_EQ(error_of({"--seed", " 1"}), "--seed: expected a non-negative integer, got ' 1'");
}

TEST(CliErrors, ChoicesAndStrings) {
  EXPECT_EQ(error_of({"--optimizer", "adamw"}), "--optimizer: unknown value 'adamw' (choose adam, rmsprop or sgd)");
  EXPECT_EQ(error_of({"--device", "gpu"}), "--device: unknown value 'gpu' (choose auto, cpu or cuda)");
  EXPECT_EQ(error_of({"--progress", "x"}), "--progress: unknown value 'x' (choose auto, bar, epoch or none)");
  EXPECT_EQ(error_of({"--conv-algorithm", "fft"}),
            "--conv-algorithm: unknown value 'fft' (choose winograd or direct)");
  EXPECT_EQ(error_of({"--output", ""}), "--output: must not be empty");
  EXPECT_EQ(error_of({"--data-dir", ""}), "--data-dir: must not be empty");
  EXPECT_EQ(parse({"--report", ""}).config.report, "");  // empty: no report, as by default
}

TEST(CliToString, EnumNames) {
  EXPECT_STREQ(to_string(Device::kAuto), "auto");
  EXPECT_STREQ(to_string(Device::kCuda), "cuda");
  EXPECT_STREQ(to_string(OptimizerKind::kAdam), "adam");
  EXPECT_STREQ(to_string(OptimizerKind::kRmsprop), "rmsprop");
  EXPECT_STREQ(to_string(ProgressMode::kEpoch), "epoch");
  EXPECT_STREQ(to_string(ProgressMode::kNone), "none");
}

}  // namespace
}  // namespace mnist_ddp

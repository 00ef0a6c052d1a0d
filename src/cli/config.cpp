// config.cpp — the command line: Boost.Program_options for the syntax, our own
// conversion and range checks for the values.
//
// Every option is read by Boost as a string and converted here, so that each
// mistake gets one short message naming the option ("--epochs: expected an
// integer, got 'abc'") instead of Boost's generic wording, and so that every
// rank, which parses the same argv, fails the same way. The defaults shown by
// --help are printed from a default-constructed Config: config.hpp is the one
// place that states them.
//
// Commands: the first positional word is the command (train when absent); for
// `predict` the remaining positional words are the image files. Options that
// only concern another command are accepted and ignored (so one set of
// defaults works for all), except --model with train, which almost certainly
// means the user expected train to write there (it writes --output).
#include "mnist_ddp/cli/config.hpp"

#include <boost/program_options.hpp>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "mnist_ddp/core/check.hpp"

namespace po = boost::program_options;

namespace mnist_ddp {

const char* to_string(Device d) {
  switch (d) {
    case Device::kAuto: return "auto";
    case Device::kCpu: return "cpu";
    case Device::kCuda: return "cuda";
  }
  return "?";
}

const char* to_string(OptimizerKind o) {
  switch (o) {
    case OptimizerKind::kAdam: return "adam";
    case OptimizerKind::kRmsprop: return "rmsprop";
    case OptimizerKind::kSgd: return "sgd";
  }
  return "?";
}

const char* to_string(ProgressMode p) {
  switch (p) {
    case ProgressMode::kAuto: return "auto";
    case ProgressMode::kBar: return "bar";
    case ProgressMode::kEpoch: return "epoch";
    case ProgressMode::kNone: return "none";
  }
  return "?";
}

namespace {

const char* const kCommands[] = {"train", "evaluate", "predict"};

constexpr const char* kDescription =
    "Trains the Keras MNIST example CNN on the MNIST digits with synchronous\n"
    "data-parallel training. Run it under mpirun or srun to train on several\n"
    "ranks: each rank computes gradients on its share of every batch and the\n"
    "gradients are averaged across ranks before each update. --batch-size is\n"
    "per process, so the global batch is batch x ranks.\n";

constexpr const char* kCommandsHelp =
    "Commands:\n"
    "  train                         train a model and save it to --output (the default)\n"
    "  evaluate --model FILE         evaluate a saved model on the MNIST test set\n"
    "                                (under mpirun: sharded over the ranks)\n"
    "  predict --model FILE IMAGE... classify pictures of digits (PNG or PGM, any\n"
    "                                size, dark-on-light or light-on-dark)\n";

constexpr const char* kExitCodes =
    "Exit codes:\n"
    "  0  success\n"
    "  1  runtime failure (also: a non-finite loss, a rank that died or hangs)\n"
    "  2  bad usage or input\n"
    "  3  preempted: SIGTERM, SIGINT or SIGUSR1 stopped training at a step boundary\n"
    "     and the checkpoint was written; continue with --resume auto\n";

[[noreturn]] void usage_error(const std::string& option, const std::string& what) {
  throw UsageError(option + ": " + what);
}

std::string quoted(const std::string& text) { return "'" + text + "'"; }

// Default values as --help prints them.
std::string shown(int v) { return std::to_string(v); }
std::string shown(std::int64_t v) { return std::to_string(v); }
std::string shown(std::uint64_t v) { return std::to_string(v); }
std::string shown(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// "adam, rmsprop or sgd"
template <class E>
std::string choice_list(std::initializer_list<E> values) {
  std::string out;
  std::size_t i = 0;
  for (E v : values) {
    if (i > 0) out += (i + 1 == values.size()) ? " or " : ", ";
    out += to_string(v);
    ++i;
  }
  return out;
}

template <class E>
E parse_choice(const std::string& option, const std::string& text, std::initializer_list<E> values) {
  std::string lower;
  for (char ch : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (E v : values)
    if (lower == to_string(v)) return v;
  usage_error(option, "unknown value " + quoted(text) + " (choose " + choice_list(values) + ")");
}

constexpr std::initializer_list<OptimizerKind> kOptimizers = {OptimizerKind::kAdam, OptimizerKind::kRmsprop,
                                                              OptimizerKind::kSgd};
constexpr std::initializer_list<Device> kDevices = {Device::kAuto, Device::kCpu, Device::kCuda};
constexpr std::initializer_list<ProgressMode> kProgressModes = {ProgressMode::kAuto, ProgressMode::kBar,
                                                                ProgressMode::kEpoch, ProgressMode::kNone};

// strtoll/strtod skip leading blanks and accept an empty string as 0 when
// unchecked; a value must be the number and nothing else.
bool plain_token(const std::string& text) {
  return !text.empty() && !std::isspace(static_cast<unsigned char>(text.front()));
}

std::int64_t parse_int64(const std::string& option, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (!plain_token(text) || *end != '\0') usage_error(option, "expected an integer, got " + quoted(text));
  if (errno == ERANGE) usage_error(option, "value " + quoted(text) + " is out of range");
  return v;
}

int parse_int(const std::string& option, const std::string& text) {
  const std::int64_t v = parse_int64(option, text);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    usage_error(option, "value " + quoted(text) + " is out of range");
  return static_cast<int>(v);
}

int positive_int(const std::string& option, const std::string& text) {
  const int v = parse_int(option, text);
  if (v < 1) usage_error(option, "must be a positive integer, got " + quoted(text));
  return v;
}

template <class Int>
Int non_negative(const std::string& option, const std::string& text, Int v) {
  if (v < 0) usage_error(option, "must be a non-negative integer, got " + quoted(text));
  return v;
}

std::uint64_t parse_uint64(const std::string& option, const std::string& text) {
  // strtoull would silently wrap "-1" to 2^64 - 1.
  if (!plain_token(text) || !std::isdigit(static_cast<unsigned char>(text.front())))
    usage_error(option, "expected a non-negative integer, got " + quoted(text));
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (*end != '\0') usage_error(option, "expected a non-negative integer, got " + quoted(text));
  if (errno == ERANGE) usage_error(option, "value " + quoted(text) + " is out of range");
  return v;
}

double parse_double(const std::string& option, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (!plain_token(text) || *end != '\0') usage_error(option, "expected a number, got " + quoted(text));
  if (!std::isfinite(v) || errno == ERANGE)
    usage_error(option, "expected a finite number, got " + quoted(text));
  return v;
}

// The value of an option the user gave, or null when it is absent or only
// holds the default Boost was told about for --help.
const std::string* given(const po::variables_map& vm, const char* name) {
  const auto it = vm.find(name);
  if (it == vm.end() || it->second.defaulted()) return nullptr;
  return &it->second.as<std::string>();
}

bool flag(const po::variables_map& vm, const char* name) {
  const auto it = vm.find(name);
  return it != vm.end() && it->second.as<bool>();
}

struct Options {
  po::options_description data{"Data"};
  po::options_description model{"Model & optimizer"};
  po::options_description training{"Training & callbacks"};
  po::options_description runtime{"Runtime"};
  po::options_description output{"Output"};
  po::options_description files{"Model files & checkpoints"};
  po::options_description hidden;
  po::options_description visible;  // what --help prints
  po::options_description all;      // what the parser accepts
};

void describe_options(Options& o) {
  const Config d;
  auto str = [](const std::string& shown_default) {
    return po::value<std::string>()->default_value(shown_default, shown_default);
  };

  o.data.add_options()
      ("data-dir", str(d.data_dir)->value_name("DIR"),
       "directory holding the MNIST IDX files")
      ("val-split", str(shown(d.val_split))->value_name("F"),
       "fraction of the training images held out for validation, in [0, 1)")
      ("no-augment", po::bool_switch(),
       "train on the images as they are (no random rotation, zoom and shift)")
      ("train-limit", str(shown(d.train_limit))->value_name("N"),
       "use only the first N training images (0: all)")
      ("test-limit", str(shown(d.test_limit))->value_name("N"),
       "use only the first N test images (0: all)");

  o.model.add_options()
      ("optimizer", str(to_string(d.optimizer))->value_name("NAME"),
       ("optimizer: " + choice_list(kOptimizers)).c_str())
      ("lr", str(shown(d.lr))->value_name("X"), "initial learning rate")
      ("momentum", str(shown(d.momentum))->value_name("X"), "SGD momentum, in [0, 1)");

  o.training.add_options()
      ("epochs", str(shown(d.epochs))->value_name("N"), "maximum number of epochs")
      ("batch-size", str(shown(d.batch_size))->value_name("N"),
       "training batch size per process (global batch = batch x ranks)")
      ("eval-batch-size", str(shown(d.eval_batch_size))->value_name("N"),
       "batch size per process for validation and test")
      ("patience", str(shown(d.early_stopping.patience))->value_name("N"),
       "EarlyStopping: epochs without val_loss improvement before stopping")
      ("no-early-stopping", po::bool_switch(), "run all epochs (the best epoch's weights are still kept)")
      ("lr-patience", str(shown(d.reduce_lr.patience))->value_name("N"),
       "ReduceLROnPlateau: epochs without improvement before reducing the learning rate")
      ("lr-factor", str(shown(d.reduce_lr.factor))->value_name("X"),
       "ReduceLROnPlateau: factor applied to the learning rate, in (0, 1)")
      ("min-lr", str(shown(d.reduce_lr.min_lr))->value_name("X"),
       "ReduceLROnPlateau: lower bound of the learning rate")
      ("no-reduce-lr", po::bool_switch(), "keep the learning rate constant")
      ("precise-bn", str(shown(d.precise_bn_images))->value_name("N"),
       "after each epoch, recompute the BatchNorm statistics over N training images per rank "
       "with the epoch's final weights (0: keep Keras's moving averages)")
      ("seed", str(shown(d.seed))->value_name("N"),
       "seed of the initialisation, shuffling, augmentation and dropout");

  o.runtime.add_options()
      ("device", str(to_string(d.device))->value_name("NAME"),
       ("where to train: " + choice_list(kDevices) + " (auto: CUDA when every rank has a GPU of its own; cuda: one GPU per rank, node-local rank i on GPU i)").c_str())
      ("bucket-kb", str(shown(d.bucket_kb))->value_name("N"),
       "all-reduce the gradients in buckets of N KiB started during the backward pass "
       "(0: one all-reduce after it)")
      ("threads", str(shown(d.threads))->value_name("N"),
       "CPU threads per process (0: the node's cores shared among its ranks)")
      ("comm-timeout", str(shown(d.comm_timeout))->value_name("S"),
       "seconds a collective may wait for the other ranks before the job is ended with a message "
       "(a rank died or hangs; 0: wait forever)");

  o.output.add_options()
      ("output", str(d.output)->value_name("FILE"), "where to save the trained model")
      ("report", po::value<std::string>()->value_name("FILE"), "write a JSON run report to FILE (empty: none)")
      ("progress", str(to_string(d.progress))->value_name("MODE"),
       ("progress display: " + choice_list(kProgressModes) +
        " (auto: a live bar on a terminal, one line per epoch otherwise)").c_str())
      ("help,h", "print this help and exit")
      ("version", "print the version and exit");

  o.files.add_options()
      ("model", str(d.model)->value_name("FILE"), "evaluate, predict: the model file to read")
      ("checkpoint", po::value<std::string>()->value_name("FILE"),
       "train: write a checkpoint to FILE every --checkpoint-every epochs, at the end and when a stop "
       "signal arrives, keeping the one before as FILE.prev (empty: none)")
      ("checkpoint-every", str(shown(d.checkpoint_every))->value_name("N"),
       "train: epochs between checkpoints")
      ("resume", po::value<std::string>()->value_name("FILE"),
       "train: continue the run saved in checkpoint FILE; 'auto': from the newest valid "
       "checkpoint of --checkpoint (FILE, else FILE.prev), or from scratch if there is none");

  o.hidden.add_options()("command", po::value<std::vector<std::string>>(), "command");
  o.visible.add(o.data).add(o.model).add(o.training).add(o.runtime).add(o.output).add(o.files);
  o.all.add(o.visible).add(o.hidden);
}

std::string help_text(const Options& o) {
  std::ostringstream s;
  s << "Usage: mnist_ddp [train] [options]\n"
       "       mnist_ddp evaluate --model FILE [options]\n"
       "       mnist_ddp predict --model FILE IMAGE...\n\n"
    << kDescription << '\n' << kCommandsHelp << o.visible << '\n' << kExitCodes;
  // Boost pads wrapped descriptions with a trailing blank; drop it per line.
  std::string text;
  std::istringstream lines(s.str());
  for (std::string line; std::getline(lines, line);) {
    line.erase(line.find_last_not_of(' ') + 1);
    text += line + '\n';
  }
  return text;
}

// Fixes two ways Boost misreads a value-taking option followed by a dash:
// "--lr -0.5" would reach it as the short option "-0" (so we join it into
// "--lr=-0.5" and the range check gives the real message), and in
// "--epochs --lr 1" Boost would take "--lr" as the number of epochs.
std::vector<std::string> prepare_arguments(int argc, const char* const* argv, const po::options_description& all) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) == 0 && arg.find('=') == std::string::npos && i + 1 < argc) {
      const po::option_description* opt = all.find_nothrow(arg.substr(2), false);
      const std::string next = argv[i + 1];
      if (opt != nullptr && opt->semantic()->max_tokens() > 0 && next.size() > 1 && next[0] == '-') {
        if (!std::isdigit(static_cast<unsigned char>(next[1])) && next[1] != '.') usage_error(arg, "missing value");
        arg += "=" + next;
        ++i;
      }
    }
    args.push_back(std::move(arg));
  }
  return args;
}

// Boost's messages quote oddly and vary between versions; restate them.
[[noreturn]] void rethrow_boost_error(const po::error& e) {
  if (const auto* u = dynamic_cast<const po::unknown_option*>(&e)) {
    const std::string name = u->get_option_name();
    throw UsageError("unrecognised option " + quoted(name.substr(0, name.find('='))));
  }
  if (const auto* s = dynamic_cast<const po::invalid_command_line_syntax*>(&e)) {
    const std::string name = s->get_option_name();
    switch (s->kind()) {
      case po::invalid_syntax::missing_parameter:
      case po::invalid_syntax::empty_adjacent_parameter:
        usage_error(name, "missing value");
      case po::invalid_syntax::extra_parameter:
        usage_error(name, "is a flag and takes no value");
      default:
        break;
    }
  }
  if (const auto* m = dynamic_cast<const po::multiple_occurrences*>(&e))
    usage_error(m->get_option_name(), "given more than once");
  throw UsageError(e.what());
}

}  // namespace

ParsedCommandLine parse_command_line(int argc, const char* const* argv) {
  Options options;
  describe_options(options);
  po::positional_options_description positional;
  positional.add("command", -1);

  po::variables_map vm;
  try {
    const std::vector<std::string> args = prepare_arguments(argc, argv, options.all);
    // No abbreviations: "--lr" must never be read as a guess at "--lr-patience"
    // in some later version that adds a longer option.
    const int style = po::command_line_style::unix_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(args).options(options.all).positional(positional).style(style).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    rethrow_boost_error(e);
  }

  ParsedCommandLine result;
  if (vm.count("help")) {
    result.help = true;
    result.help_text = help_text(options);
    return result;
  }
  if (vm.count("version")) {
    result.version = true;
    return result;
  }

  Config& c = result.config;
  if (vm.count("command")) {
    const auto& words = vm["command"].as<std::vector<std::string>>();
    bool known = false;
    std::string valid;
    for (const char* command : kCommands) {
      known = known || words[0] == command;
      valid += (valid.empty() ? "" : ", ") + std::string(command);
    }
    if (!known) throw UsageError("unknown command " + quoted(words[0]) + " (valid commands: " + valid + ")");
    c.command = words[0];
    if (c.command == "predict")
      c.images.assign(words.begin() + 1, words.end());
    else if (words.size() > 1)
      throw UsageError("unexpected argument " + quoted(words[1]));
  }
  if (c.command == "predict" && c.images.empty()) throw UsageError("predict: give at least one image file");

  if (auto v = given(vm, "data-dir")) {
    if (v->empty()) usage_error("--data-dir", "must not be empty");
    c.data_dir = *v;
  }
  if (auto v = given(vm, "epochs")) c.epochs = positive_int("--epochs", *v);
  if (auto v = given(vm, "batch-size")) c.batch_size = positive_int("--batch-size", *v);
  if (auto v = given(vm, "eval-batch-size")) c.eval_batch_size = positive_int("--eval-batch-size", *v);
  if (auto v = given(vm, "lr")) {
    c.lr = parse_double("--lr", *v);
    if (!(c.lr > 0)) usage_error("--lr", "must be a positive number, got " + quoted(*v));
  }
  if (auto v = given(vm, "optimizer")) c.optimizer = parse_choice("--optimizer", *v, kOptimizers);
  if (auto v = given(vm, "momentum")) {
    c.momentum = parse_double("--momentum", *v);
    if (c.momentum < 0 || c.momentum >= 1) usage_error("--momentum", "must be in [0, 1), got " + quoted(*v));
  }
  if (auto v = given(vm, "val-split")) {
    c.val_split = parse_double("--val-split", *v);
    if (c.val_split < 0 || c.val_split >= 1) usage_error("--val-split", "must be in [0, 1), got " + quoted(*v));
  }
  if (flag(vm, "no-augment")) c.augment = false;
  if (auto v = given(vm, "bucket-kb")) c.bucket_kb = non_negative("--bucket-kb", *v, parse_int("--bucket-kb", *v));
  if (auto v = given(vm, "precise-bn"))
    c.precise_bn_images = non_negative("--precise-bn", *v, parse_int("--precise-bn", *v));
  if (auto v = given(vm, "patience"))
    c.early_stopping.patience = non_negative("--patience", *v, parse_int("--patience", *v));
  if (flag(vm, "no-early-stopping")) c.early_stopping.enabled = false;
  if (auto v = given(vm, "lr-patience"))
    c.reduce_lr.patience = non_negative("--lr-patience", *v, parse_int("--lr-patience", *v));
  if (auto v = given(vm, "lr-factor")) {
    c.reduce_lr.factor = parse_double("--lr-factor", *v);
    if (!(c.reduce_lr.factor > 0 && c.reduce_lr.factor < 1))
      usage_error("--lr-factor", "must be in (0, 1), got " + quoted(*v));
  }
  if (auto v = given(vm, "min-lr")) {
    c.reduce_lr.min_lr = parse_double("--min-lr", *v);
    if (c.reduce_lr.min_lr < 0) usage_error("--min-lr", "must be non-negative, got " + quoted(*v));
  }
  if (flag(vm, "no-reduce-lr")) c.reduce_lr.enabled = false;
  if (auto v = given(vm, "seed")) c.seed = parse_uint64("--seed", *v);
  if (auto v = given(vm, "device")) c.device = parse_choice("--device", *v, kDevices);
  if (auto v = given(vm, "threads")) c.threads = non_negative("--threads", *v, parse_int("--threads", *v));
  if (auto v = given(vm, "train-limit"))
    c.train_limit = non_negative("--train-limit", *v, parse_int64("--train-limit", *v));
  if (auto v = given(vm, "test-limit"))
    c.test_limit = non_negative("--test-limit", *v, parse_int64("--test-limit", *v));
  if (auto v = given(vm, "output")) {
    if (v->empty()) usage_error("--output", "must not be empty");
    c.output = *v;
  }
  // An empty --report means no report, as in the Config, so scripts can pass "$REPORT".
  if (auto v = given(vm, "report")) c.report = *v;
  if (auto v = given(vm, "progress")) c.progress = parse_choice("--progress", *v, kProgressModes);
  if (auto v = given(vm, "model")) {
    if (c.command == "train") throw UsageError("--model is for evaluate and predict; train writes --output");
    if (v->empty()) usage_error("--model", "must not be empty");
    c.model = *v;
  }
  // Empty --checkpoint / --resume mean none, as in the Config, like --report.
  if (auto v = given(vm, "checkpoint")) c.checkpoint = *v;
  if (auto v = given(vm, "checkpoint-every")) c.checkpoint_every = positive_int("--checkpoint-every", *v);
  if (auto v = given(vm, "resume")) c.resume = *v;
  if (c.resume == "auto" && c.checkpoint.empty())
    usage_error("--resume auto", "needs --checkpoint FILE (the checkpoint to continue from and to keep writing)");
  if (auto v = given(vm, "comm-timeout")) {
    c.comm_timeout = parse_double("--comm-timeout", *v);
    if (c.comm_timeout < 0) usage_error("--comm-timeout", "must be non-negative, got " + quoted(*v));
  }
  return result;
}

}  // namespace mnist_ddp

// option_table.cpp — the declaration of every option, section by section, and
// the config's JSON form made from it.
//
// An entry names a Config member through field(), which works on a Config (to
// set it) and on a const Config (for --help's default and the report), and a
// conversion from option_values.hpp or one of the range checks below; the
// default --help prints is read from a default-constructed Config, so
// config.hpp stays the one place that states the defaults.
#include "mnist_ddp/cli/option_table.hpp"

#include <cstddef>
#include <iterator>
#include <type_traits>
#include <utility>

#include "mnist_ddp/cli/option_values.hpp"

namespace mnist_ddp {

namespace {

// field(&Config::epochs), field(&Config::reduce_lr, &ReduceLrConfig::factor):
// the member of a Config, or of a const Config.
template <class T>
auto field(T Config::*member) {
  return [member](auto& c) -> auto& { return c.*member; };
}
template <class S, class T>
auto field(S Config::*outer, T S::*inner) {
  return [outer, inner](auto& c) -> auto& { return (c.*outer).*inner; };
}

// A value as --help shows it and as the report stores it: enums by name.
template <class T>
std::string shown_value(const T& v) {
  if constexpr (std::is_enum_v<T>)
    return to_string(v);
  else if constexpr (std::is_same_v<T, std::string>)
    return v;
  else
    return shown(v);
}
template <class T>
nlohmann::json json_value(const T& v) {
  if constexpr (std::is_enum_v<T>)
    return to_string(v);
  else
    return v;
}

// A finite number for which ok(x) holds; else "<rule>, got '<text>'".
auto number(bool (*ok)(double), const char* rule) {
  return [ok, rule](const std::string& option, const std::string& text) {
    const double v = parse_double(option, text);
    if (!ok(v)) usage_error(option, std::string(rule) + ", got " + quoted(text));
    return v;
  };
}

// One of `values`, by name.
template <class E>
auto choice(std::vector<E> values) {
  return [values = std::move(values)](const std::string& option, const std::string& text) {
    return parse_choice(option, text, values);
  };
}

// Declares the entries of one --help section.
class Section {
 public:
  Section(std::vector<OptionSpec>& table, std::string group) : table_(table), group_(std::move(group)) {}

  // --name VALUE: convert(option, text) gives the member's value or throws.
  template <class Field, class Convert>
  void value(const char* name, const char* value_name, Field f, Convert convert, const char* json_key,
             std::string help) {
    OptionSpec& s = add(OptionSpec::Kind::kValue, name, std::move(help));
    s.value_name = value_name;
    const Config defaults;
    s.shown_default = shown_value(f(defaults));
    s.apply = [f, convert, option = "--" + s.name](Config& c, const std::string& text) { f(c) = convert(option, text); };
    in_report(s, json_key, f);
  }

  // --no-X: clears a bool member that is true by default.
  template <class Field>
  void switch_off(const char* name, Field f, const char* json_key, std::string help) {
    OptionSpec& s = add(OptionSpec::Kind::kFlag, name, std::move(help));
    s.apply = [f](Config& c, const std::string&) { f(c) = false; };
    in_report(s, json_key, f);
  }

  // --X: sets a bool member that is false by default.
  template <class Field>
  void switch_on(const char* name, Field f, const char* json_key, std::string help) {
    OptionSpec& s = add(OptionSpec::Kind::kFlag, name, std::move(help));
    s.apply = [f](Config& c, const std::string&) { f(c) = true; };
    in_report(s, json_key, f);
  }

  // --help, --version: no member, no report key.
  void action(const char* name, std::string help) { add(OptionSpec::Kind::kAction, name, std::move(help)); }

  // Not an option: a member only the report shows.
  template <class Field>
  void report_only(const char* json_key, Field f) {
    in_report(add(OptionSpec::Kind::kReportOnly, "", ""), json_key, f);
  }

 private:
  OptionSpec& add(OptionSpec::Kind kind, const char* name, std::string help) {
    OptionSpec s;
    s.kind = kind;
    if (kind != OptionSpec::Kind::kReportOnly) s.group = group_;
    s.name = name;
    s.help = std::move(help);
    table_.push_back(std::move(s));
    return table_.back();
  }

  // An empty key: the member is not in the report.
  template <class Field>
  static void in_report(OptionSpec& s, const char* json_key, Field f) {
    if (*json_key == '\0') return;
    s.json_key = json_key;
    s.to_json = [f](const Config& c) { return json_value(f(c)); };
  }

  std::vector<OptionSpec>& table_;
  std::string group_;
};

bool fraction(double x) { return x >= 0 && x < 1; }  // [0, 1)

void declare_data(Section s) {
  s.value("data-dir", "DIR", field(&Config::data_dir), non_empty_text, "/data_dir",
          "directory holding the MNIST IDX files");
  s.value("val-split", "F", field(&Config::val_split), number(fraction, "must be in [0, 1)"), "/val_split",
          "fraction of the training images held out for validation, in [0, 1)");
  s.switch_off("no-augment", field(&Config::augment), "/augment",
               "train on the images as they are (no random rotation, zoom and shift)");
  s.value("train-limit", "N", field(&Config::train_limit), non_negative<std::int64_t>, "/train_limit",
          "use only the first N training images (0: all)");
  s.value("test-limit", "N", field(&Config::test_limit), non_negative<std::int64_t>, "/test_limit",
          "use only the first N test images (0: all)");
}

void declare_model(Section s) {
  const std::vector<OptimizerKind> optimizers = {OptimizerKind::kAdam, OptimizerKind::kRmsprop, OptimizerKind::kSgd};
  s.value("optimizer", "NAME", field(&Config::optimizer), choice(optimizers), "/optimizer",
          "optimizer: " + choice_list(optimizers));
  s.value("lr", "X", field(&Config::lr), number([](double x) { return x > 0; }, "must be a positive number"), "/lr",
          "initial learning rate, for one --batch-size batch (see --lr-scaling)");
  const std::vector<LrScaling> scalings = {LrScaling::kNone, LrScaling::kLinear, LrScaling::kSqrt};
  s.value("lr-scaling", "RULE", field(&Config::lr_scaling), choice(scalings), "/lr_scaling",
          "learning rate for the global batch of k = ranks x --accumulate batches: " + choice_list(scalings) +
              " (lr, lr x k, lr x sqrt(k)); none by default because the default optimizer, Adam, "
              "normalises its steps (sqrt suits Adam and RMSprop, linear SGD)");
  s.value("warmup-epochs", "X", field(&Config::warmup_epochs),
          number([](double x) { return x >= 0 && x <= 1000; }, "must be in [0, 1000]"), "/warmup_epochs",
          "with --lr-scaling: raise the rate per step from lr to the scaled rate over the first X epochs "
          "(Horovod's warm-up; 0: the scaled rate from the first step)");
  s.value("momentum", "X", field(&Config::momentum), number(fraction, "must be in [0, 1)"), "/momentum",
          "SGD momentum, in [0, 1)");
}

void declare_callbacks(Section s) {
  using ES = EarlyStoppingConfig;
  using RL = ReduceLrConfig;
  s.value("patience", "N", field(&Config::early_stopping, &ES::patience), non_negative<int>,
          "/early_stopping/patience", "EarlyStopping: epochs without val_loss improvement before stopping");
  s.switch_off("no-early-stopping", field(&Config::early_stopping, &ES::enabled), "/early_stopping/enabled",
               "run all epochs (the best epoch's weights are still kept)");
  s.value("lr-patience", "N", field(&Config::reduce_lr, &RL::patience), non_negative<int>, "/reduce_lr/patience",
          "ReduceLROnPlateau: epochs without improvement before reducing the learning rate");
  s.value("lr-factor", "X", field(&Config::reduce_lr, &RL::factor),
          number([](double x) { return x > 0 && x < 1; }, "must be in (0, 1)"), "/reduce_lr/factor",
          "ReduceLROnPlateau: factor applied to the learning rate, in (0, 1)");
  s.value("min-lr", "X", field(&Config::reduce_lr, &RL::min_lr),
          number([](double x) { return x >= 0; }, "must be non-negative"), "/reduce_lr/min_lr",
          "ReduceLROnPlateau: lower bound of the learning rate");
  s.switch_off("no-reduce-lr", field(&Config::reduce_lr, &RL::enabled), "/reduce_lr/enabled",
               "keep the learning rate constant");
}

void declare_training(Section s) {
  s.value("epochs", "N", field(&Config::epochs), positive_int, "/epochs", "maximum number of epochs");
  s.value("batch-size", "N", field(&Config::batch_size), positive_int, "/batch_size",
          "training batch size per process (global batch = batch x ranks x --accumulate)");
  s.value("accumulate", "K", field(&Config::accumulate), positive_int, "/accumulate",
          "gradient accumulation: K micro-batches of --batch-size per update, the gradients all-reduced "
          "once per update (BatchNorm normalises each micro-batch with its own statistics)");
  s.value("eval-batch-size", "N", field(&Config::eval_batch_size), positive_int, "/eval_batch_size",
          "batch size per process for validation and test");
  declare_callbacks(s);
  s.value("precise-bn", "N", field(&Config::precise_bn_images), non_negative<int>, "/precise_bn_images",
          "after each epoch, recompute the BatchNorm statistics over N training images per rank "
          "with the epoch's final weights (0: keep Keras's moving averages)");
  s.value("seed", "N", field(&Config::seed), parse_uint64, "/seed",
          "seed of the initialisation, shuffling, augmentation and dropout");
}

void declare_runtime(Section s) {
  const std::vector<Device> devices = {Device::kAuto, Device::kCpu, Device::kCuda};
  s.value("device", "NAME", field(&Config::device), choice(devices), "/device",
          "where to train: " + choice_list(devices) +
              " (auto: CUDA when every rank has a GPU of its own; cuda: one GPU per rank, node-local rank i on GPU i)");
  s.value("bucket-kb", "N", field(&Config::bucket_kb), non_negative<int>, "/bucket_kb",
          "all-reduce the gradients in buckets of N KiB started during the backward pass "
          "(0: one all-reduce after it)");
  s.switch_on("sync-bn", field(&Config::sync_bn), "/sync_bn",
              "synchronised BatchNorm: batch statistics (and their backward sums) over all ranks, as "
              "PyTorch's SyncBatchNorm, on both backends (CPU: over MPI; GPU: over NCCL, compiled and "
              "host-tested, not yet run on a GPU)");
  s.value("threads", "N", field(&Config::threads), non_negative<int>, "/threads",
          "CPU threads per process (0: the node's cores shared among its ranks)");
  const std::vector<ConvAlgorithm> conv_algorithms = {ConvAlgorithm::kWinograd, ConvAlgorithm::kDirect};
  s.value("conv-algorithm", "NAME", field(&Config::conv_algorithm), choice(conv_algorithms), "/conv_algorithm",
          "CPU convolutions: " + choice_list(conv_algorithms) +
              " (winograd: the own Winograd F(4x4,3x3) for the 3x3 layers of 16k channels, 4x fewer "
              "multiplications, and the own weight gradient for one input channel; oneDNN's direct "
              "convolution for the rest. direct: oneDNN for all)");
  s.value("comm-timeout", "S", field(&Config::comm_timeout),
          number([](double x) { return x >= 0; }, "must be non-negative"), "/comm_timeout",
          "seconds a collective may wait for the other ranks before the job is ended with a message "
          "(a rank died or hangs; 0: wait forever)");
}

void declare_output(Section s) {
  const std::vector<ProgressMode> modes = {ProgressMode::kAuto, ProgressMode::kBar, ProgressMode::kEpoch,
                                           ProgressMode::kNone};
  s.value("output", "FILE", field(&Config::output), non_empty_text, "/output",
          "where to save the trained model: FILE.keras in Keras 3's format, any other name in Keras's HDF5 (.h5)");
  // An empty --report means no report, as in the Config, so scripts can pass "$REPORT".
  s.value("report", "FILE", field(&Config::report), any_text, "/report",
          "write a JSON run report to FILE (empty: none)");
  s.value("progress", "MODE", field(&Config::progress), choice(modes), "/progress",
          "progress display: " + choice_list(modes) + " (auto: a live bar on a terminal, one line per epoch otherwise)");
  s.action("help,h", "print this help and exit");
  s.action("version", "print the version and exit");
}

void declare_files(Section s) {
  // --model with train is refused by parse_command_line (it needs the command).
  // Not in the report: it records the train command's settings, and train has no --model.
  s.value("model", "FILE", field(&Config::model), non_empty_text, "",
          "evaluate, predict: the model file to read (.h5, or Keras 3's .keras)");
  // Empty --checkpoint / --resume mean none, as in the Config, like --report.
  s.value("checkpoint", "FILE", field(&Config::checkpoint), any_text, "/checkpoint",
          "train: write a checkpoint to FILE every --checkpoint-every epochs, at the end and when a stop "
          "signal arrives, keeping the one before as FILE.prev (empty: none)");
  s.value("checkpoint-every", "N", field(&Config::checkpoint_every), positive_int, "/checkpoint_every",
          "train: epochs between checkpoints");
  s.value("resume", "FILE", field(&Config::resume), any_text, "/resume",
          "train: continue the run saved in checkpoint FILE; 'auto': from the newest valid "
          "checkpoint of --checkpoint (FILE, else FILE.prev), or from scratch if there is none");
}

// The command, and the callbacks' settings that have no option (Keras's values).
void declare_report_only(Section s) {
  s.report_only("/command", field(&Config::command));
  s.report_only("/early_stopping/min_delta", field(&Config::early_stopping, &EarlyStoppingConfig::min_delta));
  s.report_only("/early_stopping/restore_best_weights",
                field(&Config::early_stopping, &EarlyStoppingConfig::restore_best_weights));
  s.report_only("/reduce_lr/min_delta", field(&Config::reduce_lr, &ReduceLrConfig::min_delta));
  s.report_only("/reduce_lr/cooldown", field(&Config::reduce_lr, &ReduceLrConfig::cooldown));
}

std::vector<OptionSpec> make_option_table() {
  std::vector<OptionSpec> table;
  void (*const declare[])(Section) = {declare_data,    declare_model,  declare_training,
                                      declare_runtime, declare_output, declare_files};
  static_assert(std::size(declare) == std::size(kOptionGroups), "one declaration per --help section");
  for (std::size_t i = 0; i < std::size(declare); ++i) declare[i](Section(table, kOptionGroups[i]));
  declare_report_only(Section(table, ""));
  return table;
}

}  // namespace

const std::vector<OptionSpec>& option_table() {
  static const std::vector<OptionSpec> table = make_option_table();
  return table;
}

nlohmann::json config_to_json(const Config& config) {
  nlohmann::json j = nlohmann::json::object();
  for (const OptionSpec& o : option_table())
    if (!o.json_key.empty()) j[nlohmann::json::json_pointer(o.json_key)] = o.to_json(config);
  return j;
}

}  // namespace mnist_ddp

// config.cpp — the command line: Boost.Program_options for the syntax, the
// option table (option_table.hpp) for the options, their values and --help.
//
// Every option is read by Boost as a string and converted by its table entry
// (option_values.hpp), so that each mistake gets one short message naming the
// option; here are only the syntax (Boost's quirks restated), the commands and
// the checks that involve two options.
//
// Commands: the first positional word is the command (train when absent); for
// `predict` the remaining positional words are the image files. Options that
// only concern another command are accepted and ignored (so one set of
// defaults works for all), except --model with train, which almost certainly
// means the user expected train to write there (it writes --output).
#include "mnist_ddp/cli/config.hpp"

#include <boost/program_options.hpp>

#include <cctype>
#include <sstream>
#include <string>
#include <vector>

#include "mnist_ddp/cli/option_table.hpp"
#include "mnist_ddp/cli/option_values.hpp"
#include "mnist_ddp/core/check.hpp"

namespace po = boost::program_options;

namespace mnist_ddp {

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
  po::options_description visible;  // what --help prints
  po::options_description all;      // what the parser accepts
};

// Boost's description of one table entry.
void describe(po::options_description& group, const OptionSpec& o) {
  auto add = group.add_options();
  switch (o.kind) {
    case OptionSpec::Kind::kValue: {
      po::typed_value<std::string>* value = po::value<std::string>();
      if (!o.shown_default.empty()) value->default_value(o.shown_default, o.shown_default);
      add(o.name.c_str(), value->value_name(o.value_name), o.help.c_str());
      break;
    }
    case OptionSpec::Kind::kFlag: add(o.name.c_str(), po::bool_switch(), o.help.c_str()); break;
    case OptionSpec::Kind::kAction: add(o.name.c_str(), o.help.c_str()); break;
    case OptionSpec::Kind::kReportOnly: break;
  }
}

void describe_options(Options& o) {
  for (const char* title : kOptionGroups) {
    po::options_description group(title);
    for (const OptionSpec& spec : option_table())
      if (spec.group == title) describe(group, spec);
    o.visible.add(group);
  }
  po::options_description hidden;
  hidden.add_options()("command", po::value<std::vector<std::string>>(), "command");
  o.all.add(o.visible).add(hidden);
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

// The command and, for predict, the image files: the positional words.
void read_command(const po::variables_map& vm, Config& c) {
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
  if (given(vm, "model") != nullptr && c.command == "train")
    throw UsageError("--model is for evaluate and predict; train writes --output");
}

// Every option the user gave, converted and checked by its table entry, then
// the checks that involve two options.
void read_options(const po::variables_map& vm, Config& c) {
  for (const OptionSpec& o : option_table()) {
    if (o.kind == OptionSpec::Kind::kValue) {
      if (const std::string* text = given(vm, o.name.c_str())) o.apply(c, *text);
    } else if (o.kind == OptionSpec::Kind::kFlag && flag(vm, o.name.c_str())) {
      o.apply(c, "");
    }
  }
  if (c.resume == "auto" && c.checkpoint.empty())
    usage_error("--resume auto", "needs --checkpoint FILE (the checkpoint to continue from and to keep writing)");
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
  read_command(vm, result.config);
  read_options(vm, result.config);
  return result;
}

}  // namespace mnist_ddp

// option_table.hpp — every command-line option, declared once.
//
// One entry per option: its name, the Config member it sets, the conversion
// and range check of its value, its --help line and its key in the report's
// "config" object. The Boost.Program_options description, parse_command_line
// and config_to_json are loops over this table, so adding or changing an
// option is one entry (and its default in Config). A few entries are not
// options: Config members that only the report shows (the command, and the
// callbacks' settings that have no option).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnist_ddp/cli/config.hpp"

namespace mnist_ddp {

struct OptionSpec {
  enum class Kind {
    kValue,       // --name VALUE: `apply` converts and checks the text
    kFlag,        // --name alone (a bool_switch): `apply` runs when it is given
    kAction,      // --help, --version: parse_command_line answers them first
    kReportOnly,  // no option: a member only the report shows
  };
  Kind kind = Kind::kValue;
  std::string group;            // its --help section (one of kOptionGroups); empty for kReportOnly
  std::string name;             // as Boost knows it: "epochs", "help,h"
  std::string value_name;       // kValue: "N", "FILE", ...
  std::string help;
  std::string shown_default;    // kValue: the default as --help shows it; empty: none shown
  std::string json_key;         // JSON pointer into the report's config ("/reduce_lr/factor"); empty: none
  std::function<void(Config&, const std::string& value)> apply;  // kValue, kFlag
  std::function<nlohmann::json(const Config&)> to_json;          // where json_key is set
};

// The --help sections, in the order --help prints them.
inline const char* const kOptionGroups[] = {"Data",    "Model & optimizer", "Training & callbacks",
                                            "Runtime", "Output",            "Model files & checkpoints"};

// Every entry, in --help order within each section (and the order in which
// values are checked); built on first use.
const std::vector<OptionSpec>& option_table();

}  // namespace mnist_ddp

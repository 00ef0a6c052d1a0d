// report.hpp — the JSON run report: the config's JSON form and the output check.
// Every output is written with write_file_atomic (io/atomic_file.hpp, included
// here for the report's writers).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "mnist_ddp/cli/config.hpp"
#include "mnist_ddp/io/atomic_file.hpp"

namespace mnist_ddp {

// Empty if a file can be created at `path` (tried with a temporary file next
// to it, removed at once), else why not: "cannot write 'x': <strerror>".
std::string output_problem(const std::string& path);

// The config as JSON (every option, with its value).
nlohmann::json config_to_json(const Config& config);

}  // namespace mnist_ddp

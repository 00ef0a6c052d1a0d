// report.hpp — the JSON run report, and atomic file writing for every output.
//
// Outputs are written to "<path>.tmp.<pid>", flushed and fsync'ed, then renamed
// over <path>: a crash never leaves a half-written file at the final path.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "mnist_ddp/cli/config.hpp"

namespace mnist_ddp {

// Writes `contents` to `path` atomically. Throws RuntimeError naming the path
// and the system error (unwritable directory, disk full, ...).
void write_file_atomic(const std::string& path, const std::string& contents);

// fsync of the directory holding `path`, so that a rename into it survives a
// crash of the machine. Best effort: some file systems refuse it, and the
// renamed file is complete either way.
void sync_parent_directory(const std::string& path);

// Empty if a file can be created at `path` (tried with a temporary file next
// to it, removed at once), else why not: "cannot write 'x': <strerror>".
std::string output_problem(const std::string& path);

// The config as JSON (every option, with its value).
nlohmann::json config_to_json(const Config& config);

}  // namespace mnist_ddp

// report.hpp — atomic file writing for every output (model, JSON run report).
//
// The report's contents are assembled by app/run.cpp; its "config" object is
// cli/config.hpp's config_to_json, made from the option table.
//
// Outputs are written to "<path>.tmp.<pid>", flushed and fsync'ed, then renamed
// over <path>: a crash never leaves a half-written file at the final path.
#pragma once

#include <string>

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

}  // namespace mnist_ddp

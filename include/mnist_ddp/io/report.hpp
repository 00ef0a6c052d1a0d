// report.hpp — the check that an output can be written, made before a run
// spends hours on it. The report's contents are assembled by app/run.cpp; its
// "config" object is cli/config.hpp's config_to_json, made from the option table.
// Every output is written with write_file_atomic (io/atomic_file.hpp, included
// here for the report's writers).
#pragma once

#include <string>


#include "mnist_ddp/io/atomic_file.hpp"

namespace mnist_ddp {

// Empty if a file can be created at `path` (tried with a temporary file next
// to it, removed at once), else why not: "cannot write 'x': <strerror>".
std::string output_problem(const std::string& path);

}  // namespace mnist_ddp

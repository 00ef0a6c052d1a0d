// report.cpp — the check that an output can be written before a run spends
// hours on it. (Writing the outputs themselves: atomic_file.cpp; the config's
// JSON form: cli/option_table.cpp.)
#include "mnist_ddp/io/report.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mnist_ddp {

std::string output_problem(const std::string& path) {
  const std::string probe = path + ".probe." + std::to_string(::getpid());
  std::FILE* f = std::fopen(probe.c_str(), "wb");
  if (f == nullptr) return "cannot write '" + path + "': " + std::strerror(errno);
  std::fclose(f);
  std::remove(probe.c_str());
  return {};
}

}  // namespace mnist_ddp

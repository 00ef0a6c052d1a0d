// report.cpp — atomic file writing.
//
// Every output (model, report) goes through write_file_atomic: a job killed by
// Slurm's time limit mid-write must leave either the old file or the new one,
// never a truncated one that a later run would load. The temporary name holds
// the pid so that two processes writing the same path never share a temp file.
#include "mnist_ddp/io/report.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/core/fault_injection.hpp"

namespace mnist_ddp {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw RuntimeError("cannot write '" + path + "': " + why);
}

std::string parent_directory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Writes the whole buffer, riding over short writes and EINTR. Returns errno
// on failure, 0 on success.
int write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& contents) {
  if (path.empty()) throw RuntimeError("cannot write '': empty file name");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());

  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    const std::string dir = parent_directory(path);
    struct stat st {};
    if (err == ENOENT && ::stat(dir.c_str(), &st) != 0) fail(path, "directory '" + dir + "' does not exist");
    fail(path, std::strerror(err));
  }

  int err = write_all(fd, contents.data(), contents.size());
  // fsync before rename: otherwise the rename can reach the disk before the
  // data does, and a crash leaves an empty file at the final path.
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0) fault_point_before_rename(path);  // tests: SIGKILL here must leave the old file
  if (err == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    fail(path, std::strerror(err));
  }

  // Make the rename itself durable.
  sync_parent_directory(path);
}

void sync_parent_directory(const std::string& path) {
  const int dir_fd = ::open(parent_directory(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

std::string output_problem(const std::string& path) {
  const std::string probe = path + ".probe." + std::to_string(::getpid());
  std::FILE* f = std::fopen(probe.c_str(), "wb");
  if (f == nullptr) return "cannot write '" + path + "': " + std::strerror(errno);
  std::fclose(f);
  std::remove(probe.c_str());
  return {};
}

}  // namespace mnist_ddp

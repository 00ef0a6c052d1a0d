// atomic_file.cpp — temporary file, fsync, rename, directory fsync
// (include/mnist_ddp/io/atomic_file.hpp), for every output file.
#include "mnist_ddp/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/core/fault_injection.hpp"

namespace mnist_ddp {

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.release();
  }
  return *this;
}

FileDescriptor::~FileDescriptor() { close(); }

int FileDescriptor::release() noexcept { return std::exchange(fd_, -1); }

int FileDescriptor::close() noexcept {
  if (fd_ < 0) return 0;
  // No retry on EINTR: on Linux the descriptor is gone either way.
  return ::close(release()) == 0 ? 0 : errno;
}

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw RuntimeError("cannot write '" + path + "': " + why);
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

// fsync before rename: otherwise the rename can reach the disk before the data
// does, and a crash leaves an empty file at the final path. Any descriptor of
// the file will do: fsync flushes the file, not the descriptor's writes.
void sync_file(const std::string& tmp, const std::string& path) {
  FileDescriptor fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) fail(path, std::string("fsync: ") + std::strerror(errno));
}

}  // namespace

std::string parent_directory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

void sync_parent_directory(const std::string& path) {
  FileDescriptor dir(::open(parent_directory(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) ::fsync(dir.get());
}

void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write_temporary) {
  if (path.empty()) throw RuntimeError("cannot write '': empty file name");
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    write_temporary(tmp);
    sync_file(tmp, path);
    fault_point_before_rename(path);  // tests: SIGKILL here must leave the old file
    if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(path, std::string("rename: ") + std::strerror(errno));
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  sync_parent_directory(path);
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  write_atomically(path, [&](const std::string& tmp) {
    FileDescriptor fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) {
      const int err = errno;
      const std::string dir = parent_directory(path);
      struct stat st {};
      if (err == ENOENT && ::stat(dir.c_str(), &st) != 0) fail(path, "directory '" + dir + "' does not exist");
      fail(path, std::strerror(err));
    }
    int err = write_all(fd.get(), contents.data(), contents.size());
    const int close_err = fd.close();
    if (err == 0) err = close_err;
    if (err != 0) fail(path, std::strerror(err));
  });
}

}  // namespace mnist_ddp

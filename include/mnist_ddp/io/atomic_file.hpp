// atomic_file.hpp — crash-safe writing of every output file (model, report,
// checkpoint, pictures), and the RAII file descriptor it is built on.
//
// A job killed by Slurm's time limit (or a machine that loses power) mid-write
// must leave either the old file or the new one at the final path, never a
// truncated one that a later run would load. So every writer goes the same
// way: write the complete file as "<path>.tmp.<pid>" (the pid: two processes
// writing the same path never share a temporary), fsync it, rename it over
// <path>, then fsync the directory so that the rename itself is durable. On
// any failure the temporary file is removed and RuntimeError names <path>.
#pragma once

#include <functional>
#include <string>

namespace mnist_ddp {

// Owns one POSIX file descriptor and closes it exactly once. Move-only.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  FileDescriptor(FileDescriptor&& o) noexcept : fd_(o.release()) {}
  FileDescriptor& operator=(FileDescriptor&& o) noexcept;
  ~FileDescriptor();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() noexcept;

  // Closes now; 0, or the errno of a failed close (where some file systems
  // report a failed write, so writers must look at it; the destructor cannot).
  int close() noexcept;

 private:
  int fd_ = -1;
};

// The directory holding `path` ("." for a bare file name).
std::string parent_directory(const std::string& path);

// fsync of the directory holding `path`, so that a rename into it survives a
// crash of the machine. Best effort: some file systems refuse it, and the
// renamed file is complete either way.
void sync_parent_directory(const std::string& path);

// Writes `path` atomically: `write_temporary(tmp)` creates the file `tmp`,
// writes all of it and closes it (throwing RuntimeError on failure); then it
// is synced, renamed over `path` and the directory synced.
void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write_temporary);

// Writes `contents` to `path` atomically. Throws RuntimeError naming the path
// and the system error (unwritable directory, disk full, ...).
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace mnist_ddp

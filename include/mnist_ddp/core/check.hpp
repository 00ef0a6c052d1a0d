// check.hpp — the project's error types and checking macros.
//
// Every failure becomes an exception that carries file:line and a message, so
// that main() can map it to an exit code and tests can EXPECT_THROW on it:
//   UsageError   — a bad option or value given by the user        → exit 2
//   InputError   — a bad input file (data, model, checkpoint)     → exit 2
//   RuntimeError — anything else going wrong at run time          → exit 1
// The per-library macros (MPI, CUDA, cuDNN, ...) live next to the code that
// needs that library, and throw RuntimeError with the library's message.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace mnist_ddp {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class UsageError : public Error {
 public:
  using Error::Error;
};

class InputError : public Error {
 public:
  using Error::Error;
};

class RuntimeError : public Error {
 public:
  using Error::Error;
};

namespace detail {
inline std::string where(const char* file, int line) {
  std::ostringstream s;
  s << file << ':' << line;
  return s.str();
}
}  // namespace detail

}  // namespace mnist_ddp

// MNIST_CHECK(cond, ExceptionType, streamed message): throws with file:line.
#define MNIST_CHECK(cond, Type, msg)                                                  \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::ostringstream mnist_check_os_;                                             \
      mnist_check_os_ << msg;                                                         \
      throw Type(mnist_check_os_.str() + " [" + ::mnist_ddp::detail::where(__FILE__, __LINE__) + "]"); \
    }                                                                                 \
  } while (0)

// Internal invariants (programming errors), always checked.
#define MNIST_ASSERT(cond, msg) MNIST_CHECK(cond, ::mnist_ddp::RuntimeError, "internal error: " #cond ": " << msg)

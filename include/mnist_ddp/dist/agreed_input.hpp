// agreed_input.hpp — bad input that every rank finds alike, told apart from a
// fault on some ranks only.
//
// Every rank reads the same data files, model and checkpoint, so a bad file
// usually fails on every rank with the same message: then rank 0 alone prints
// it and every rank exits 2 through a normal MPI_Finalize (AgreedInputError).
// Only when some ranks fail, or ranks fail differently (a file that one node
// sees and another does not), do the failing ranks keep their InputError, and
// the program ends the job with MPI_Abort.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/dist/communicator.hpp"

namespace mnist_ddp {

// An input error every rank raised with the same message: rank 0 prints it.
class AgreedInputError : public InputError {
 public:
  using InputError::InputError;
};

// Input that failed on other ranks but not on this one: this rank prints
// nothing and ends the job (the failing ranks print their messages).
class PeerInputError : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

namespace detail {

// The message's FNV-1a hash in 52 bits plus one, exact in a double; 0: no error.
inline double message_key(const std::string& message) {
  std::uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : message) h = (h ^ c) * 1099511628211ull;
  return static_cast<double>(h & ((std::uint64_t{1} << 52) - 1)) + 1.0;
}

}  // namespace detail

// Collective: runs `read` on every rank. An InputError on every rank with the
// same message becomes AgreedInputError on every rank; one on some ranks only
// (or different ones) is rethrown on the ranks that raised it, and the others
// throw PeerInputError naming them. (Header-only: io/, in the library without
// MPI, uses it on the abstract Communicator.)
inline void read_on_every_rank(Communicator& comm, const std::function<void()>& read) {
  std::exception_ptr error;
  std::string message;
  try {
    read();
  } catch (const InputError& e) {
    error = std::current_exception();
    message = e.what();
  }
  if (comm.size() == 1) {
    if (error) std::rethrow_exception(error);
    return;
  }
  // Every rank gets the same keys, so every rank takes the same branch below.
  const std::vector<double> keys = all_gather(comm, error ? detail::message_key(message) : 0.0);
  bool any = false, alike = true;
  std::string failing;
  for (std::size_t r = 0; r < keys.size(); ++r) {
    if (keys[r] != 0.0) {
      any = true;
      failing += (failing.empty() ? "" : ", ") + std::to_string(r);
    }
    if (keys[r] == 0.0 || keys[r] != keys[0]) alike = false;
  }
  if (!any) return;
  if (alike) throw AgreedInputError(message);
  if (error) std::rethrow_exception(error);
  throw PeerInputError("input error on rank(s) " + failing + " only");
}

}  // namespace mnist_ddp

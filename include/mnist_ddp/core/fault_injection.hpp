// fault_injection.hpp — test hooks that make faults happen at exact points.
//
// The fault tests (tests/cli/test_faults.sh) need a signal in the middle of an
// epoch, a rank that dies or hangs at a known step, and a process killed while
// it writes a file, without depending on timing luck. These hooks are driven by
// environment variables and do nothing unless one is set:
//
//   MNIST_DDP_FAULT_AFTER_STEPS=N   rank MNIST_DDP_FAULT_RANK (default 0) sends
//                                   itself MNIST_DDP_FAULT_SIGNAL (TERM, INT,
//                                   USR1, KILL or STOP; default TERM) once the
//                                   optimizer has made N steps in total (counted
//                                   across resumes, so a resumed run with the same
//                                   environment is not signalled again)
//   MNIST_DDP_FAULT_KILL_BEFORE_RENAME=TEXT
//                                   an atomic write whose final path contains
//                                   TEXT sends itself SIGKILL after writing and
//                                   syncing its temporary file, just before the
//                                   rename that would publish it
#pragma once

#include <cstdint>
#include <string>

namespace mnist_ddp {

struct StepFault {
  std::int64_t after_steps = -1;  // -1: none
  int rank = 0;
  int signal = 0;

  // Reads the MNIST_DDP_FAULT_* variables; a malformed value is a UsageError.
  static StepFault from_environment();
  // Raises the signal on this process if `rank` is the faulty rank and the
  // optimizer has just made its `after_steps`-th step.
  void after_step(std::int64_t optimizer_steps, int rank) const;
};

// The hook of every atomic write (write_file_atomic, save_keras_h5), called
// between the synced temporary file and the rename over `final_path`.
void fault_point_before_rename(const std::string& final_path);

}  // namespace mnist_ddp

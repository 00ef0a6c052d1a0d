// signals.hpp — the stop signals of a batch system, caught and remembered.
//
// SIGTERM (Slurm's time limit, scancel), SIGINT (Ctrl-C) and SIGUSR1 (what
// `sbatch --signal=USR1@T` sends, and what Open MPI's mpirun forwards to its
// ranks) ask a training run to stop. The handler only records which signal
// came (an async-signal-safe store to a lock-free atomic); the trainer polls
// stop_signal_received() at every step boundary, all ranks agree on it in a
// reduction, and the run writes a checkpoint and exits with code 3.
//
// A second SIGINT ends the process at once (the user pressed Ctrl-C twice); a
// repeated SIGTERM or SIGUSR1 is ignored, so that a batch system that signals
// both the launcher and the ranks cannot interrupt the checkpoint being written.
#pragma once

namespace mnist_ddp {

// Installs the handlers for SIGTERM, SIGINT and SIGUSR1 while alive and puts
// back the previous dispositions when destroyed. Not nestable: one at a time.
class StopSignalHandlers {
 public:
  StopSignalHandlers();
  ~StopSignalHandlers();
  StopSignalHandlers(const StopSignalHandlers&) = delete;
  StopSignalHandlers& operator=(const StopSignalHandlers&) = delete;
};

// The first stop signal received while handlers were installed (0: none).
int stop_signal_received();
// Forgets a received signal (tests; a run that handled it).
void clear_stop_signal();

// "SIGTERM", "SIGINT", "SIGUSR1", ... ("another signal" for the rest).
const char* signal_name(int signal);

}  // namespace mnist_ddp

// run.hpp — the whole job behind main(): MPI start-up, command dispatch, and
// the mapping of errors to exit codes (0 ok, 1 runtime failure, 2 usage or bad
// input, 3 preempted by a signal after writing the checkpoint).
#pragma once

namespace mnist_ddp {

int run_main(int argc, char** argv);

}  // namespace mnist_ddp

#include "mnist_ddp/app/run.hpp"

namespace mnist_ddp {
int run_main(int, char**) { return 0; }
}  // namespace mnist_ddp

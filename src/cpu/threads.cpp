// threads.cpp — the CPU backend's thread count (OpenMP's).
#include "mnist_ddp/cpu/threads.hpp"

#include <omp.h>

namespace mnist_ddp {

void set_cpu_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

int cpu_threads() { return omp_get_max_threads(); }

}  // namespace mnist_ddp

// threads.hpp — the CPU backend's thread count.
//
// Every parallel piece of the CPU backend runs on OpenMP: the oneDNN primitives
// (oneDNN's CPU runtime is the project's OpenMP, dnnl_context.hpp), the
// project's own loops and the batch augmentation. One count governs them all.
#pragma once

namespace mnist_ddp {

// Sets the number of OpenMP threads the CPU backend uses (`--threads`).
// threads <= 0: leave OpenMP's default (OMP_NUM_THREADS, else all cores).
void set_cpu_threads(int threads);
int cpu_threads();

}  // namespace mnist_ddp

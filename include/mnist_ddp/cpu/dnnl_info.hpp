// dnnl_info.hpp — what oneDNN runs: its version, the ISA it dispatched to, and
// the implementation (impl_info_str) of each primitive the layers created, for
// the start-up line, the run report and the benchmark context.
#pragma once

#include <string>

namespace mnist_ddp {

// "oneDNN 2.6.3 (ISA avx512_core_bf16, OpenMP)".
std::string dnnl_description();

// Records that the primitive `what` ("conv2d_1 forward") runs `impl` ("brgconv:avx512_core").
void note_dnnl_primitive(const std::string& what, const std::string& impl);

// "conv2d forward: brgconv:avx512_core; ..." for every primitive noted so far, in
// the order first noted (empty before any layer ran).
std::string dnnl_primitives_description();

}  // namespace mnist_ddp

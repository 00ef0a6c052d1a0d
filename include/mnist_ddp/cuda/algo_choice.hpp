// algo_choice.hpp — which cuDNN convolution algorithms Conv2DCuda may use, in which order.
//
// Host-only and header-only (no cuDNN here), so the unit tests check the rule on
// any machine (tests/unit/test_cuda_shapes.cpp). conv2d.cpp turns cuDNN's perf
// results (cudnnFind*/cudnnGet*_v7, fastest or most promising first) into
// AlgoResult and tries the candidates in the returned order: a candidate whose
// workspace query or call answers CUDNN_STATUS_NOT_SUPPORTED gives way to the next.
//
// The math type of a result is the kernel that was timed; it is used as it is,
// never replaced. With TF32 off only CUDNN_FMA_MATH results qualify: cuDNN's
// CUDNN_DEFAULT_MATH "permits Tensor Core TF32" on A100 and later (cuDNN API
// reference, cudnnMathType_t), so a DEFAULT result may be a TF32 kernel, and
// forcing FMA onto it would run another kernel than the one whose time,
// workspace and determinism were reported — or none (NOT_SUPPORTED).
#pragma once

#include <cstddef>
#include <vector>

namespace mnist_ddp::cuda {

enum class ConvMath { kFma, kDefault, kTensorOp };  // CUDNN_FMA_MATH, CUDNN_DEFAULT_MATH, CUDNN_TENSOR_OP_MATH*

// One perf result, as cuDNN reported it.
struct AlgoResult {
  int algo = -1;
  bool succeeded = false;  // status == CUDNN_STATUS_SUCCESS
  std::size_t memory = 0;  // workspace bytes
  ConvMath math = ConvMath::kFma;
  bool deterministic = false;
};

struct AlgoPolicy {
  bool tf32 = false;           // TF32 tensor cores allowed (else FMA kernels only)
  bool deterministic = false;  // deterministic algorithms first
  std::size_t workspace_limit = 0;
};

inline bool algo_result_allowed(const AlgoResult& r, const AlgoPolicy& p) {
  return r.algo >= 0 && r.succeeded && r.memory <= p.workspace_limit && (p.tf32 || r.math == ConvMath::kFma);
}

// The acceptable results in the order to try them: cuDNN's order, deterministic
// ones first when the policy asks; an (algorithm, math) pair listed twice is kept once.
inline std::vector<AlgoResult> algo_candidates(const std::vector<AlgoResult>& results, const AlgoPolicy& policy) {
  std::vector<AlgoResult> out;
  for (int pass = policy.deterministic ? 0 : 1; pass < 2; ++pass) {
    for (const AlgoResult& r : results) {
      if (!algo_result_allowed(r, policy) || (pass == 0 && !r.deterministic)) continue;
      bool seen = false;
      for (const AlgoResult& o : out) seen = seen || (o.algo == r.algo && o.math == r.math);
      if (!seen) out.push_back(r);
    }
  }
  return out;
}

// One direction's choice for one batch size: the candidate in use and the ones after it.
struct AlgoChoice {
  AlgoResult current;         // algo -1: nothing chosen yet
  std::size_t workspace = 0;  // bytes, as cuDNN's workspace query gave them for `current`
  std::vector<AlgoResult> rest;
  bool chosen() const { return current.algo >= 0; }
  // The next candidate becomes current; false (and unchanged) when none is left.
  bool advance() {
    if (rest.empty()) return false;
    current = rest.front();
    rest.erase(rest.begin());
    workspace = 0;
    return true;
  }
};

}  // namespace mnist_ddp::cuda

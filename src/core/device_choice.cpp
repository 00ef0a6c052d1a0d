// device_choice.cpp — the device decisions of each rank and of the job.
#include "mnist_ddp/core/device_choice.hpp"

#include "mnist_ddp/core/enum_name.hpp"

#include <cstddef>
#include <cstdio>
#include <iterator>

namespace mnist_ddp {

const char* to_string(Device d) {
  return enum_name(d, {"auto", "cpu", "cuda"});  // in the enum's order
}

const char* to_string(Backend b) { return b == Backend::kCuda ? "cuda" : "cpu"; }

RankDevice choose_rank_device(Device requested, const DeviceProbe& probe, int local_rank) {
  RankDevice r;
  if (requested == Device::kCpu) return r;
  const bool must = requested == Device::kCuda;
  if (!probe.cuda_built) {
    r.status = must ? RankDevice::Status::kError : RankDevice::Status::kCpu;
    r.message = must ? "--device cuda: this build has no CUDA support: rebuild with the CUDA toolkit "
                       "(nvcc, cuDNN and NCCL; see the README's GPU section), or use --device cpu"
                     : "this build has no CUDA support";
    return r;
  }
  if (probe.gpu_count <= 0) {
    const std::string why = "no usable CUDA device" + (probe.error.empty() ? std::string() : " (" + probe.error + ")");
    r.status = must ? RankDevice::Status::kError : RankDevice::Status::kCpu;
    r.message = must ? "--device cuda: " + why : why;
    return r;
  }
  // Node-local rank i drives visible GPU i. With fewer visible GPUs than local ranks the
  // modulo still picks one; the UUID check across ranks then tells whether they differ
  // (each rank given its own GPU by its launcher) or would share one (an error).
  r.status = RankDevice::Status::kCuda;
  r.gpu = (local_rank < 0 ? 0 : local_rank) % probe.gpu_count;
  return r;
}

std::optional<std::pair<int, int>> find_shared_gpu(const std::vector<RankDevice>& ranks) {
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    if (ranks[i].status != RankDevice::Status::kCuda) continue;
    for (std::size_t j = i + 1; j < ranks.size(); ++j)
      if (ranks[j].status == RankDevice::Status::kCuda && ranks[j].uuid == ranks[i].uuid)
        return std::make_pair(static_cast<int>(i), static_cast<int>(j));
  }
  return std::nullopt;
}

namespace {

std::string on_rank(const std::vector<RankDevice>& ranks, int r, const std::string& message) {
  return ranks.size() > 1 ? "rank " + std::to_string(r) + ": " + message : message;
}

}  // namespace

DeviceAgreement agree_on_device(Device requested, const std::vector<RankDevice>& ranks) {
  DeviceAgreement a;
  if (requested == Device::kCpu || ranks.empty()) return a;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    if (ranks[r].status == RankDevice::Status::kError) {
      a.error = true;
      a.deciding_rank = static_cast<int>(r);
      a.message = on_rank(ranks, a.deciding_rank, ranks[r].message);
      return a;
    }
  }
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    if (ranks[r].status == RankDevice::Status::kCpu) {  // auto: one rank without a GPU puts all on the CPU
      a.deciding_rank = static_cast<int>(r);
      a.message = on_rank(ranks, a.deciding_rank, ranks[r].message);
      return a;
    }
  }
  if (const auto shared = find_shared_gpu(ranks)) {
    const std::string what = "ranks " + std::to_string(shared->first) + " and " + std::to_string(shared->second) +
                             " would share GPU " + format_uuid(ranks[shared->first].uuid);
    if (requested == Device::kCuda) {
      a.error = true;
      a.message = "--device cuda: " + what +
                  ": one GPU per rank; start at most as many ranks per node as it has GPUs, "
                  "or give each rank its own (CUDA_VISIBLE_DEVICES, srun --gpus-per-task=1)";
    } else {
      a.message = what + " (one GPU per rank)";
    }
    return a;
  }
  a.backend = Backend::kCuda;
  return a;
}

std::string format_uuid(const GpuUuid& u) {
  // nvidia-smi's form: GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx
  std::string s = "GPU-";
  char hex[3];
  for (std::size_t i = 0; i < u.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned>(u[i]));
    s += hex;
  }
  return s;
}

}  // namespace mnist_ddp

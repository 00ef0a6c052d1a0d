// device_choice.hpp — which device each rank trains on, as pure decisions.
//
// The probing (how many CUDA devices this process can use, and why none) is in
// cuda/device.hpp; the collective part (every rank agreeing) is in
// app/device_selection.hpp. What is here needs neither CUDA nor MPI, so the
// unit tests cover every case on any machine:
//
//   --device cpu    the CPU, without probing;
//   --device cuda   GPU number (node-local rank mod visible GPUs), or a UsageError that
//                   says why not: no CUDA in this build, no usable device (with the
//                   runtime's message), or two ranks that would share one GPU;
//   --device auto   the GPU when every rank has one of its own, otherwise the CPU on
//                   every rank, with a note saying why (never an error).
//
// One GPU per rank: ranks that would share a GPU are an error, not a silent slowdown.
// Sharing is detected by the GPUs' UUIDs gathered from all ranks, so it also works when
// a launcher gives each rank its own single visible GPU (srun --gpus-per-task=1: every
// rank sees "device 0", yet they are different GPUs).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mnist_ddp {

// The device the user asks for (--device): the decisions below turn it into a Backend.
enum class Device { kAuto, kCpu, kCuda };
const char* to_string(Device d);  // "auto", "cpu", "cuda"

// The device a rank trains on once the job has decided.
enum class Backend { kCpu, kCuda };
const char* to_string(Backend b);

// What this process found out about CUDA.
struct DeviceProbe {
  bool cuda_built = false;  // the binary contains the CUDA backend
  int gpu_count = 0;        // usable CUDA devices visible to this process
  std::string error;        // why none is usable (the runtime's message) when gpu_count == 0
};

using GpuUuid = std::array<std::uint8_t, 16>;

// One rank's own decision, before the ranks agree.
struct RankDevice {
  enum class Status : std::int64_t { kCuda = 0, kCpu = 1, kError = 2 };
  Status status = Status::kCpu;
  int gpu = -1;          // CUDA device index (kCuda)
  GpuUuid uuid{};        // that device's UUID (kCuda), filled in by the caller after probing it
  std::string message;   // kError: the UsageError text; kCpu under auto: why not CUDA
};

// This rank's decision from its probe. `local_rank` is the rank among the processes
// of this node. Never throws: errors are returned, to be agreed on by all ranks.
RankDevice choose_rank_device(Device requested, const DeviceProbe& probe, int local_rank);

// First pair of ranks (i < j) whose CUDA choices name the same GPU, if any.
std::optional<std::pair<int, int>> find_shared_gpu(const std::vector<RankDevice>& ranks);

// The job's decision from every rank's (indexed by rank).
struct DeviceAgreement {
  Backend backend = Backend::kCpu;
  bool error = false;         // every rank must throw UsageError(message)
  int deciding_rank = -1;     // the rank whose message explains the outcome (-1: none needed)
  std::string message;        // filled for a shared GPU; otherwise the deciding rank's message
};
DeviceAgreement agree_on_device(Device requested, const std::vector<RankDevice>& ranks);

// "GPU-8f3a..." style text of a UUID, as nvidia-smi prints it.
std::string format_uuid(const GpuUuid& uuid);

}  // namespace mnist_ddp

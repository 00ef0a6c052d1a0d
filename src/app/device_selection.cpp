// device_selection.cpp — probing, exchanging and agreeing on the device.
#include "mnist_ddp/app/device_selection.hpp"

#include <cstring>
#include <vector>

#include "mnist_ddp/cli/step_settings.hpp"
#include "mnist_ddp/core/check.hpp"
#include "mnist_ddp/cpu/cpu_step_backend.hpp"
#if MNIST_DDP_HAVE_CUDA
#include "mnist_ddp/cuda/cuda_step_backend.hpp"
#include "mnist_ddp/cuda/device.hpp"
#endif

namespace mnist_ddp {

namespace {

// Root's string on every rank.
std::string broadcast_string(Communicator& comm, std::string text, int root) {
  std::int64_t length = static_cast<std::int64_t>(text.size());
  comm.broadcast(&length, sizeof length, root);
  text.resize(static_cast<std::size_t>(length));
  comm.broadcast(text.data(), text.size(), root);
  return text;
}

}  // namespace

SelectedDevice select_device(const Config& config, Communicator& comm) {
  SelectedDevice selected;
  if (config.device == Device::kCpu) return selected;  // the same on every rank: nothing to agree on

  DeviceProbe probe;  // cuda_built = false
#if MNIST_DDP_HAVE_CUDA
  probe = cuda::probe_devices();
#endif
  RankDevice mine = choose_rank_device(config.device, probe, comm.local_rank());
#if MNIST_DDP_HAVE_CUDA
  if (mine.status == RankDevice::Status::kCuda) {
    try {
      mine.uuid = cuda::device_uuid(mine.gpu);
    } catch (const Error& e) {  // a device that is listed but cannot be queried is not usable
      const bool must = config.device == Device::kCuda;
      mine.status = must ? RankDevice::Status::kError : RankDevice::Status::kCpu;
      mine.message = std::string(must ? "--device cuda: " : "") + "GPU " + std::to_string(mine.gpu) +
                     " is not usable: " + e.what();
    }
  }
#endif

  // Every rank's status and UUID on every rank: 3 int64 per rank, summed into zeros.
  const int world = comm.size();
  std::vector<std::int64_t> table(static_cast<std::size_t>(world) * 3, 0);
  std::int64_t* slot = table.data() + static_cast<std::size_t>(comm.rank()) * 3;
  slot[0] = static_cast<std::int64_t>(mine.status);
  std::memcpy(slot + 1, mine.uuid.data(), mine.uuid.size());
  comm.allreduce_sum(table.data(), table.size());
  std::vector<RankDevice> ranks(static_cast<std::size_t>(world));
  for (int r = 0; r < world; ++r) {
    ranks[r].status = static_cast<RankDevice::Status>(table[static_cast<std::size_t>(r) * 3]);
    std::memcpy(ranks[r].uuid.data(), table.data() + static_cast<std::size_t>(r) * 3 + 1, ranks[r].uuid.size());
  }
  ranks[comm.rank()] = mine;

  // The deciding rank's own words, then the same agreement everywhere.
  DeviceAgreement agreement = agree_on_device(config.device, ranks);
  if (agreement.deciding_rank >= 0) {
    ranks[agreement.deciding_rank].message =
        broadcast_string(comm, ranks[agreement.deciding_rank].message, agreement.deciding_rank);
    agreement = agree_on_device(config.device, ranks);
  }
  if (agreement.error) throw UsageError(agreement.message);
  selected.backend = agreement.backend;
  selected.note = agreement.message;
#if MNIST_DDP_HAVE_CUDA
  if (selected.backend == Backend::kCuda) {
    selected.gpu = mine.gpu;
    cuda::bind_device(mine.gpu);
    selected.description = cuda::describe_device(mine.gpu);
  }
#endif
  return selected;
}

TrainingBackend make_training_backend(const SelectedDevice& device, const Config& config, Communicator& comm,
                                      Model& model) {
  TrainingBackend made;
  if (device.backend == Backend::kCpu) {
    made.backend = std::make_unique<CpuStepBackend>(step_settings(config), comm, model);
    return made;
  }
#if MNIST_DDP_HAVE_CUDA
  auto cuda = std::make_unique<cuda::CudaStepBackend>(step_settings(config), comm, model, device.gpu);
  made.description = cuda->description();
  made.backend = std::move(cuda);
#else
  MNIST_ASSERT(false, "the CUDA backend was selected in a build without it");
#endif
  return made;
}

}  // namespace mnist_ddp

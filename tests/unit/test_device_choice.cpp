// test_device_choice.cpp — the device decisions (core/device_choice.hpp), on any machine.
#include <gtest/gtest.h>

#include "mnist_ddp/core/device_choice.hpp"

namespace mnist_ddp {
namespace {

using Status = RankDevice::Status;

DeviceProbe gpus(int n) { return DeviceProbe{true, n, n > 0 ? "" : "cudaErrorNoDevice: no CUDA-capable device is detected"}; }

GpuUuid uuid_of(std::uint8_t tag) {
  GpuUuid u{};
  u[0] = tag;
  u[15] = static_cast<std::uint8_t>(0xA0 + tag);
  return u;
}

RankDevice cuda_rank(int gpu, std::uint8_t tag) {
  RankDevice r = choose_rank_device(Device::kCuda, gpus(8), gpu);
  r.uuid = uuid_of(tag);
  return r;
}

TEST(DeviceChoice, CpuNeverProbes) {
  const RankDevice r = choose_rank_device(Device::kCpu, DeviceProbe{}, 3);
  EXPECT_EQ(r.status, Status::kCpu);
  EXPECT_TRUE(r.message.empty());
  const DeviceAgreement a = agree_on_device(Device::kCpu, {r, r});
  EXPECT_EQ(a.backend, Backend::kCpu);
  EXPECT_FALSE(a.error);
  EXPECT_TRUE(a.message.empty());
}

TEST(DeviceChoice, BuildWithoutCuda) {
  const RankDevice must = choose_rank_device(Device::kCuda, DeviceProbe{false, 0, ""}, 0);
  EXPECT_EQ(must.status, Status::kError);
  EXPECT_NE(must.message.find("--device cuda: this build has no CUDA support: rebuild with the CUDA toolkit"),
            std::string::npos)
      << must.message;
  const RankDevice maybe = choose_rank_device(Device::kAuto, DeviceProbe{false, 0, ""}, 0);
  EXPECT_EQ(maybe.status, Status::kCpu);
  EXPECT_EQ(maybe.message, "this build has no CUDA support");
  // Even a probe that reports GPUs does not matter without the backend.
  EXPECT_EQ(choose_rank_device(Device::kAuto, DeviceProbe{false, 4, ""}, 0).status, Status::kCpu);
}

TEST(DeviceChoice, NoUsableDeviceCarriesTheRuntimeMessage) {
  const DeviceProbe none{true, 0, "no NVIDIA driver (cudaErrorInsufficientDriver)"};
  const RankDevice must = choose_rank_device(Device::kCuda, none, 0);
  EXPECT_EQ(must.status, Status::kError);
  EXPECT_EQ(must.message, "--device cuda: no usable CUDA device (no NVIDIA driver (cudaErrorInsufficientDriver))");
  const RankDevice maybe = choose_rank_device(Device::kAuto, none, 0);
  EXPECT_EQ(maybe.status, Status::kCpu);
  EXPECT_EQ(maybe.message, "no usable CUDA device (no NVIDIA driver (cudaErrorInsufficientDriver))");
  const DeviceAgreement a = agree_on_device(Device::kCuda, {must});
  EXPECT_TRUE(a.error);
  EXPECT_EQ(a.deciding_rank, 0);
  EXPECT_EQ(a.message, must.message);  // one rank: no "rank 0:" prefix
}

TEST(DeviceChoice, LocalRankPicksTheGpu) {
  for (int local = 0; local < 4; ++local) {
    const RankDevice r = choose_rank_device(Device::kCuda, gpus(4), local);
    EXPECT_EQ(r.status, Status::kCuda);
    EXPECT_EQ(r.gpu, local);
    EXPECT_EQ(choose_rank_device(Device::kAuto, gpus(4), local).gpu, local);
  }
  // Fewer visible GPUs than local ranks: the index wraps; the UUIDs decide whether they share.
  EXPECT_EQ(choose_rank_device(Device::kCuda, gpus(2), 3).gpu, 1);
  EXPECT_EQ(choose_rank_device(Device::kCuda, gpus(1), 5).gpu, 0);
}

TEST(DeviceChoice, TwoNodesOfFourGpusAgreeOnCuda) {
  std::vector<RankDevice> ranks;
  for (int r = 0; r < 8; ++r) ranks.push_back(cuda_rank(r % 4, static_cast<std::uint8_t>(r)));  // 8 distinct GPUs
  EXPECT_FALSE(find_shared_gpu(ranks).has_value());
  for (Device d : {Device::kCuda, Device::kAuto}) {
    const DeviceAgreement a = agree_on_device(d, ranks);
    EXPECT_EQ(a.backend, Backend::kCuda);
    EXPECT_FALSE(a.error);
    EXPECT_TRUE(a.message.empty());
  }
}

TEST(DeviceChoice, OneVisibleGpuPerRankIsFine) {
  // srun --gpus-per-task=1: every rank sees one device, index 0, but each a different GPU.
  std::vector<RankDevice> ranks;
  for (int local = 0; local < 4; ++local) {
    RankDevice r = choose_rank_device(Device::kCuda, gpus(1), local);
    EXPECT_EQ(r.gpu, 0);
    r.uuid = uuid_of(static_cast<std::uint8_t>(10 + local));
    ranks.push_back(r);
  }
  EXPECT_EQ(agree_on_device(Device::kCuda, ranks).backend, Backend::kCuda);
}

TEST(DeviceChoice, MoreRanksThanGpusOnANodeIsAnErrorForCudaAndCpuForAuto) {
  // Four ranks on a node with two GPUs: ranks 0 and 2 land on the same GPU.
  std::vector<RankDevice> ranks;
  for (int local = 0; local < 4; ++local) {
    RankDevice r = choose_rank_device(Device::kCuda, gpus(2), local);
    r.uuid = uuid_of(static_cast<std::uint8_t>(r.gpu));
    ranks.push_back(r);
  }
  const auto shared = find_shared_gpu(ranks);
  ASSERT_TRUE(shared.has_value());
  EXPECT_EQ(shared->first, 0);
  EXPECT_EQ(shared->second, 2);
  const DeviceAgreement must = agree_on_device(Device::kCuda, ranks);
  EXPECT_TRUE(must.error);
  EXPECT_EQ(must.backend, Backend::kCpu);
  EXPECT_NE(must.message.find("--device cuda: ranks 0 and 2 would share GPU GPU-00"), std::string::npos)
      << must.message;
  EXPECT_NE(must.message.find("one GPU per rank"), std::string::npos) << must.message;

  const DeviceAgreement maybe = agree_on_device(Device::kAuto, ranks);
  EXPECT_FALSE(maybe.error);
  EXPECT_EQ(maybe.backend, Backend::kCpu);
  EXPECT_NE(maybe.message.find("ranks 0 and 2 would share GPU"), std::string::npos) << maybe.message;
}

TEST(DeviceChoice, OneRankWithoutAGpuDecidesForAll) {
  std::vector<RankDevice> ranks = {cuda_rank(0, 1), cuda_rank(1, 2),
                                   choose_rank_device(Device::kAuto, gpus(0), 0), cuda_rank(1, 3)};
  const DeviceAgreement maybe = agree_on_device(Device::kAuto, ranks);
  EXPECT_FALSE(maybe.error);
  EXPECT_EQ(maybe.backend, Backend::kCpu);
  EXPECT_EQ(maybe.deciding_rank, 2);
  EXPECT_EQ(maybe.message.rfind("rank 2: no usable CUDA device (cudaErrorNoDevice", 0), 0u) << maybe.message;

  ranks[2] = choose_rank_device(Device::kCuda, gpus(0), 0);
  ranks[3] = choose_rank_device(Device::kCuda, DeviceProbe{false, 0, ""}, 1);
  const DeviceAgreement must = agree_on_device(Device::kCuda, ranks);
  EXPECT_TRUE(must.error);
  EXPECT_EQ(must.deciding_rank, 2);  // the first failing rank explains
  EXPECT_EQ(must.message.rfind("rank 2: --device cuda: no usable CUDA device", 0), 0u) << must.message;
}

TEST(DeviceChoice, UuidFormatsLikeNvidiaSmi) {
  GpuUuid u{};
  for (std::size_t i = 0; i < u.size(); ++i) u[i] = static_cast<std::uint8_t>(i * 17);
  EXPECT_EQ(format_uuid(u), "GPU-00112233-4455-6677-8899-aabbccddeeff");
  EXPECT_STREQ(to_string(Backend::kCuda), "cuda");
  EXPECT_STREQ(to_string(Backend::kCpu), "cpu");
}

}  // namespace
}  // namespace mnist_ddp

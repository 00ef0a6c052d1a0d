// test_nccl_communicator.cpp — the device probe and the NCCL communicator on one GPU.
//
// A one-GPU machine can only make a one-rank communicator: these tests check
// the bootstrap, the collectives' arithmetic (identity on one rank), the stream
// ordering through events, the watched wait that aborts on a timeout, and the
// refusal of an aborted communicator. Two ranks on two GPUs are exercised by
// scripts/gpu_check.sh (mpi_cuda) where the machine has them.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "mnist_ddp/cuda/device.hpp"
#include "mnist_ddp/cuda/nccl_communicator.hpp"
#include "mnist_ddp/cuda/raii.hpp"
#include "mnist_ddp/dist/communicator.hpp"
#include "require_gpu.hpp"
#include "spin_kernel.hpp"

namespace mnist_ddp {
namespace {

using cuda::DeviceBuffer;
using cuda::NcclCommunicator;
using cuda::Stream;

// Runs everywhere: with or without a GPU the probe answers, and never throws.
TEST(CudaDevice, ProbeGivesACountOrTheReason) {
  const DeviceProbe p = cuda::probe_devices();
  EXPECT_TRUE(p.cuda_built);
  if (p.gpu_count > 0) {
    EXPECT_TRUE(p.error.empty()) << p.error;
    const std::string d = cuda::describe_device(0);
    EXPECT_NE(d.find("sm_"), std::string::npos) << d;
    EXPECT_EQ(format_uuid(cuda::device_uuid(0)).size(), 40u);
  } else {
    EXPECT_EQ(p.gpu_count, 0);
    EXPECT_NE(p.error.find("cuda"), std::string::npos) << p.error;  // the runtime's own words
    // A second probe gives the same answer: the first left no error behind.
    EXPECT_EQ(cuda::probe_devices().error, p.error);
  }
}

TEST(CudaDevice, UnusableDeviceThrowsWithTheRuntimeMessage) {
  const DeviceProbe p = cuda::probe_devices();
  // The device after the last one (or device 0 without a GPU) cannot be bound.
  try {
    cuda::bind_device(p.gpu_count);
    FAIL() << "bind_device(" << p.gpu_count << ") did not throw";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("cudaSetDevice"), std::string::npos) << e.what();
  }
}

TEST(NcclCommunicator, OneRankCollectivesAreTheIdentity) {
  MNIST_REQUIRE_GPU();
  cuda::bind_device(0);
  SingleProcessCommunicator host;
  NcclCommunicator nccl(host, 30.0);
  EXPECT_EQ(nccl.rank(), 0);
  EXPECT_EQ(nccl.size(), 1);
  EXPECT_EQ(NcclCommunicator::library_version().rfind("2.", 0), 0u) << NcclCommunicator::library_version();

  Stream compute;
  std::vector<float> values(1000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.5f * static_cast<float>(i) - 100.0f;
  DeviceBuffer<float> buffer(values.size());
  buffer.upload(values.data(), values.size());
  nccl.after(compute);
  nccl.allreduce_mean(buffer.data(), buffer.size());
  nccl.allreduce_sum(buffer.data(), buffer.size());
  nccl.broadcast(buffer.data(), buffer.size(), 0);
  nccl.before(compute);
  nccl.synchronize(compute, "the test's collectives");
  std::vector<float> back(values.size());
  buffer.download(back.data(), back.size());
  EXPECT_EQ(back, values);
  EXPECT_THROW(nccl.broadcast(buffer.data(), buffer.size(), 1), RuntimeError);  // no rank 1
}

TEST(NcclCommunicator, CollectivesWaitForTheComputeStream) {
  MNIST_REQUIRE_GPU();
  cuda::bind_device(0);
  SingleProcessCommunicator host;
  NcclCommunicator nccl(host, 30.0);
  Stream compute;
  DeviceBuffer<float> buffer(4096);
  // The compute stream is busy for 200 ms, then writes 3: the NCCL stream must see
  // the 3 (it waits on an event), and the later compute work must see NCCL's result.
  test::fill(buffer.data(), buffer.size(), -1.0f, compute);
  test::spin(200.0, compute);
  test::fill(buffer.data(), buffer.size(), 3.0f, compute);
  nccl.after(compute);
  nccl.allreduce_sum(buffer.data(), buffer.size());
  nccl.before(compute);
  nccl.synchronize(compute, "the ordered work");
  std::vector<float> back(buffer.size());
  buffer.download(back.data(), back.size());
  for (float v : back) ASSERT_EQ(v, 3.0f);
}

TEST(NcclCommunicator, AWaitPastTheTimeoutAbortsAndThrows) {
  MNIST_REQUIRE_GPU();
  cuda::bind_device(0);
  SingleProcessCommunicator host;
  NcclCommunicator nccl(host, 0.2);
  Stream compute;
  test::spin(3000.0, compute);  // a "peer" that does not answer for 3 s
  try {
    nccl.synchronize(compute, "the stuck step");
    FAIL() << "synchronize returned while the stream was busy";
  } catch (const RuntimeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("the GPU work of the stuck step has not completed after 0.2 s"), std::string::npos) << m;
    EXPECT_NE(m.find("NCCL communicator aborted"), std::string::npos) << m;
    EXPECT_NE(m.find("nccl_communicator.cpp:"), std::string::npos) << m;
  }
  EXPECT_TRUE(nccl.aborted());
  DeviceBuffer<float> buffer(16);
  EXPECT_THROW(nccl.allreduce_mean(buffer.data(), buffer.size()), RuntimeError);
  compute.synchronize();  // let the spinning kernel end before the stream goes
}

}  // namespace
}  // namespace mnist_ddp

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
  // Out of place: on one rank an in-place all-reduce enqueues nothing (and would
  // pass without any ordering); out of place it is a copy on the NCCL stream.
  DeviceBuffer<float> send(4096), recv(4096);
  // The compute stream is busy for 200 ms, then writes 3: the NCCL copy must see
  // the 3 (it waits on an event).
  test::fill(send.data(), send.size(), -1.0f, compute);
  test::fill(recv.data(), recv.size(), -2.0f, compute);
  test::spin(200.0, compute);
  test::fill(send.data(), send.size(), 3.0f, compute);
  nccl.after(compute);
  // The NCCL stream is then busy for 200 ms before its copy: later compute work
  // overwriting the source with 9 must wait for the copy, or the copy would read 9.
  test::spin(200.0, nccl.stream());
  nccl.allreduce_sum(send.data(), recv.data(), recv.size());
  nccl.before(compute);
  test::fill(send.data(), send.size(), 9.0f, compute);
  nccl.synchronize(compute, "the ordered work");
  std::vector<float> back(recv.size());
  recv.download(back.data(), back.size());
  for (float v : back) ASSERT_EQ(v, 3.0f);
  send.download(back.data(), back.size());
  for (float v : back) ASSERT_EQ(v, 9.0f);
}

// A handled error — a failed call, a poll that answers "not ready" — leaves nothing
// behind: MNIST_CUDA_CHECK_LAUNCH reads the last error of any runtime call.
TEST(CudaErrors, HandledErrorsDoNotFailTheNextLaunchCheck) {
  MNIST_REQUIRE_GPU();
  cuda::bind_device(0);
  Stream s;
  DeviceBuffer<float> x(256);
  EXPECT_THROW(MNIST_CUDA_CHECK(cudaSetDevice(-1)), RuntimeError);
  EXPECT_NO_THROW(test::fill(x.data(), x.size(), 1.0f, s));
  EXPECT_THROW(cuda::bind_device(cuda::probe_devices().gpu_count), RuntimeError);
  EXPECT_NO_THROW(test::fill(x.data(), x.size(), 1.0f, s));
  ::testing::internal::CaptureStderr();
  MNIST_CUDA_WARN(cudaSetDevice(-1));
  ::testing::internal::GetCapturedStderr();
  EXPECT_NO_THROW(test::fill(x.data(), x.size(), 1.0f, s));
  cuda::Event e;
  test::spin(200.0, s);
  e.record(s);
  EXPECT_FALSE(e.done());  // cudaErrorNotReady, cleared
  EXPECT_NO_THROW(test::fill(x.data(), x.size(), 1.0f, s));
  s.synchronize();
  EXPECT_TRUE(e.done());
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

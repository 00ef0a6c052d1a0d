// bench_cuda.cu — the GPU backend's layers, its forward + backward pass, the
// cuBLAS GEMM ceilings and the NCCL all-reduce; one GPU per rank.
//
//   mpirun -np 1 build/bench/bench_cuda     (one GPU; the NCCL rows then move nothing)
//   mpirun -np 8 build/bench/bench_cuda     (a node of 8 GPUs: NCCL over NVLink/NVSwitch)
//
//   BM_CublasSgemm/N        N×N×N cublasSgemm, pure FP32 (CUBLAS_DEFAULT_MATH): the
//                           ceiling of the FP32 backend (TF32 off, its default)
//   BM_CublasSgemmTF32/N    the same with TF32 tensor cores allowed (CudaOptions::tf32, which
//                           mnist_ddp does not expose as a flag): the ceiling TF32 would give
//   BM_CudaLayerForward/NN_name, BM_CudaLayerBackward/NN_name
//                           layer NN of the seed CNN on the GPU (cuda::CudaModel's layers)
//                           (layer 00 backward: no dx, as in training)
//                           at batch 128, GFLOP/s (layer_flops.hpp) and, for Conv2D/Dense,
//                           % of the FP32 cuBLAS ceiling (measured once, 4096³)
//   BM_CudaForwardBackward/B the model's forward and backward pass at batch B (no
//                           augmentation, loss or optimizer): images/s, GFLOP/s
//   BM_AllreduceNccl/bytes:N, BM_AllreduceNccl/gradient
//                           the gradient all-reduce of training (cuda::NcclCommunicator,
//                           in place, device memory); rows and counters as bench_allreduce's
// GPU work is timed with CUDA events around the queued calls (manual time); the
// all-reduce with the host clock around the call and its synchronisation, max over
// the ranks. Rank r uses GPU (local rank mod GPUs of the node). The benchmark rows
// other than the all-reduce run on every rank, each on its own GPU; rank 0 reports.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "allreduce_bench.hpp"
#include "counters.hpp"
#include "layer_flops.hpp"
#include "mnist_ddp/cuda/check.hpp"
#include "mnist_ddp/cuda/context.hpp"
#include "mnist_ddp/cuda/device.hpp"
#include "mnist_ddp/cuda/model.hpp"
#include "mnist_ddp/cuda/nccl_communicator.hpp"
#include "mnist_ddp/cuda/raii.hpp"
#include "mnist_ddp/dist/mpi_communicator.hpp"
#include "mnist_ddp/nn/model.hpp"

namespace mnist_ddp {
namespace {

constexpr int kLayerBatch = 128;
constexpr int kCeilingN = 4096;

std::vector<float> random_vector(std::size_t n, unsigned seed, bool non_negative = false) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(non_negative ? 0.0f : -1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

cuda::DeviceBuffer<float> device_copy(const std::vector<float>& host) {
  cuda::DeviceBuffer<float> d(host.size());
  d.upload(host.data(), host.size());
  return d;
}

// GPU seconds of the work `queue` puts on `stream`, from two timing events
// (created outside the measured interval).
template <typename Queue>
double gpu_seconds(cudaStream_t stream, Queue&& queue) {
  cuda::Event start(true), stop(true);
  MNIST_CUDA_CHECK(cudaEventRecord(start.get(), stream));
  queue();
  MNIST_CUDA_CHECK(cudaEventRecord(stop.get(), stream));
  MNIST_CUDA_CHECK(cudaEventSynchronize(stop.get()));
  float ms = 0;
  MNIST_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
  return ms / 1e3;
}

// ---- cuBLAS ceilings ------------------------------------------------------------------

// n³ GEMMs on zeros (the time does not depend on the values): `calls` products per timed batch.
class GemmRunner {
 public:
  GemmRunner(int n, cublasMath_t math) : n_(n), a_(elems()), b_(elems()), c_(elems()) {
    a_.zero(stream_);
    b_.zero(stream_);
    MNIST_CUBLAS_CHECK(cublasSetStream(handle_.get(), stream_));
    MNIST_CUBLAS_CHECK(cublasSetMathMode(handle_.get(), math));
    for (int i = 0; i < 3; ++i) gemm();  // warm-up: heuristics, clocks
    stream_.synchronize();
  }
  // Seconds per GEMM over a batch of `calls`.
  double seconds_per_call(int calls) {
    return gpu_seconds(stream_, [&] {
             for (int i = 0; i < calls; ++i) gemm();
           }) / calls;
  }
  double flops() const { return 2.0 * n_ * n_ * static_cast<double>(n_); }

 private:
  std::size_t elems() const { return static_cast<std::size_t>(n_) * n_; }
  void gemm() {
    const float one = 1.0f, zero = 0.0f;
    MNIST_CUBLAS_CHECK(cublasSgemm(handle_.get(), CUBLAS_OP_N, CUBLAS_OP_N, n_, n_, n_, &one, a_.data(), n_,
                                   b_.data(), n_, &zero, c_.data(), n_));
  }
  int n_;
  cuda::Stream stream_;
  cuda::CublasHandle handle_;
  cuda::DeviceBuffer<float> a_, b_, c_;
};

// The FP32 cuBLAS ceiling in GFLOP/s: the best of 5 batches of 10 products, measured once.
double cublas_ceiling_gflops() {
  static const double ceiling = [] {
    GemmRunner runner(kCeilingN, CUBLAS_DEFAULT_MATH);
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) best = std::max(best, runner.flops() / runner.seconds_per_call(10) / 1e9);
    return best;
  }();
  return ceiling;
}

void gemm_bench(benchmark::State& state, cublasMath_t math) {
  GemmRunner runner(static_cast<int>(state.range(0)), math);
  double total = 0;
  for (auto _ : state) {
    const double t = runner.seconds_per_call(10);  // one row = one GEMM
    state.SetIterationTime(t);
    total += t;
  }
  bench::set_rate_counters(state, runner.flops(), 0.0, 0.0, total);
}
void BM_CublasSgemm(benchmark::State& state) { gemm_bench(state, CUBLAS_DEFAULT_MATH); }
void BM_CublasSgemmTF32(benchmark::State& state) { gemm_bench(state, CUBLAS_TF32_TENSOR_OP_MATH); }
BENCHMARK(BM_CublasSgemm)->Arg(4096)->Arg(8192)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CublasSgemmTF32)->Arg(4096)->Arg(8192)->UseManualTime()->Unit(benchmark::kMillisecond);

// ---- the backend's model and layers ---------------------------------------------------

// The seed CNN on this rank's GPU at batch 128, Keras initial weights, and the
// device sample ids dropout needs.
struct CudaFixture {
  cuda::CudaContext ctx;
  cuda::CudaModel model;
  cuda::DeviceBuffer<std::int64_t> ids;
  explicit CudaFixture(int device)
      : ctx(device), model(seed_cnn(), kMnistInput, kLayerBatch, ctx), ids(kLayerBatch) {
    Model host(seed_cnn(), kMnistInput, 1);
    host.initialize(1);
    model.upload(host);
    std::vector<std::int64_t> h(kLayerBatch);
    std::iota(h.begin(), h.end(), 0);
    ids.upload(h.data(), h.size());
  }
};
std::unique_ptr<CudaFixture> fixture;  // made in main, once the device is bound

void cuda_layer_bench(benchmark::State& state, std::size_t index, bool backward) {
  cuda::CudaLayer& layer = *fixture->model.layers()[index];
  const cudaStream_t stream = fixture->ctx.stream();
  const int n = kLayerBatch;
  const std::size_t in_count = static_cast<std::size_t>(n) * layer.input_shape().size();
  const std::size_t out_count = static_cast<std::size_t>(n) * layer.output_shape().size();
  cuda::DeviceBuffer<float> in = device_copy(random_vector(in_count, 7, true));  // what follows a ReLU
  cuda::DeviceBuffer<float> dy = device_copy(random_vector(out_count, 9));
  cuda::DeviceBuffer<float> out(out_count), g(out_count), dx(in_count);
  const ForwardContext ctx{true, 1, 0, fixture->ids.data()};
  auto forward = [&] { layer.forward(in.data(), out.data(), n, ctx); };
  auto restore_dy = [&] {  // backward may overwrite dy: a fresh copy outside the timed region
    MNIST_CUDA_CHECK(cudaMemcpyAsync(g.data(), dy.data(), dy.bytes(), cudaMemcpyDeviceToDevice, stream));
  };
  // The first layer gets no dx, as in CudaModel: training never asks cuDNN for the
  // backward-data algorithm of a one-channel input.
  float* dx_or_null = index == 0 ? nullptr : dx.data();
  auto backward_call = [&] { layer.backward(in.data(), out.data(), g.data(), dx_or_null, n); };
  forward();  // the state backward needs (BatchNorm statistics, pooling)
  for (int i = 0; i < 3; ++i) {
    restore_dy();
    backward ? backward_call() : forward();
  }
  double total = 0;
  for (auto _ : state) {
    double t;
    if (backward) {
      restore_dy();
      t = gpu_seconds(stream, backward_call);
    } else {
      t = gpu_seconds(stream, forward);
    }
    state.SetIterationTime(t);
    total += t;
  }
  state.SetLabel(layer.name());
  const bench::LayerCost c =
      bench::layer_cost(fixture->model.specs()[index], layer.input_shape(), layer.output_shape());
  bench::set_rate_counters(state, (backward ? c.backward_flops : c.forward_flops) * n,
                           (backward ? c.backward_bytes : c.forward_bytes) * n,
                           c.gemm ? cublas_ceiling_gflops() : 0.0, total);
}

void register_layer_benchmarks() {
  auto& layers = fixture->model.layers();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "/%02zu_", i);
    const std::string suffix = prefix + layers[i]->name();
    for (const bool backward : {false, true}) {
      benchmark::RegisterBenchmark(
          (std::string(backward ? "BM_CudaLayerBackward" : "BM_CudaLayerForward") + suffix).c_str(),
          [i, backward](benchmark::State& s) { cuda_layer_bench(s, i, backward); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

// Forward + backward of the whole model at batch B (B <= kLayerBatch).
void BM_CudaForwardBackward(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  cuda::CudaModel& model = fixture->model;
  const cudaStream_t stream = fixture->ctx.stream();
  cuda::DeviceBuffer<float> x = device_copy(random_vector(static_cast<std::size_t>(batch) * 784, 5, true));
  cuda::DeviceBuffer<float> dlogits = device_copy(random_vector(static_cast<std::size_t>(batch) * 10, 6));
  const ForwardContext ctx{true, 1, 0, fixture->ids.data()};
  auto pass = [&] {
    model.forward(x.data(), batch, ctx);
    model.backward(dlogits.data(), batch);
  };
  for (int i = 0; i < 3; ++i) pass();
  double total = 0;
  for (auto _ : state) {
    const double t = gpu_seconds(stream, pass);
    state.SetIterationTime(t);
    total += t;
  }
  const double per_image = bench::train_step_gemm_flops_per_image(model.specs(), model.layers());
  state.counters["images/s"] = total > 0 ? batch * static_cast<double>(state.iterations()) / total : 0.0;
  bench::set_rate_counters(state, per_image * batch, 0.0, cublas_ceiling_gflops(), total);
  state.SetLabel("forward + backward; no augmentation, loss or optimizer");
}
BENCHMARK(BM_CudaForwardBackward)->Arg(64)->Arg(128)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace mnist_ddp

int main(int argc, char** argv) {
  using namespace mnist_ddp;
  MpiRuntime mpi(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  try {
    MpiCommunicator world;
    const DeviceProbe probe = cuda::probe_devices();
    if (probe.gpu_count == 0) {
      if (rank == 0) std::cerr << "bench_cuda: no usable CUDA device (" << probe.error << ")\n";
      return 77;  // "skipped", as the tests use it
    }
    const int device = world.local_rank() % probe.gpu_count;
    cuda::bind_device(device);
    if (world.local_size() > probe.gpu_count && rank == 0)
      std::cerr << "bench_cuda: " << world.local_size() << " ranks share " << probe.gpu_count
                << " GPUs of a node: the all-reduce rows measure shared GPUs\n";

    fixture = std::make_unique<CudaFixture>(device);
    const std::size_t gradient_floats = fixture->model.param_count();
    benchmark::AddCustomContext("gpu", fixture->ctx.description());
    benchmark::AddCustomContext("gpus_per_node", std::to_string(probe.gpu_count));
    benchmark::AddCustomContext("mpi_ranks", std::to_string(world.size()));
    benchmark::AddCustomContext("nccl_version", cuda::NcclCommunicator::library_version());
    benchmark::AddCustomContext("memory", "device");
    benchmark::AddCustomContext("gradient_floats", std::to_string(gradient_floats));
    benchmark::AddCustomContext("layer_batch", std::to_string(kLayerBatch));
    register_layer_benchmarks();

    cuda::NcclCommunicator nccl(world, 600.0);
    cuda::DeviceBuffer<float> buffer(std::max(gradient_floats, bench::allreduce_sizes_bytes().back() / 4));
    buffer.zero(nccl.stream());  // zeros stay zeros: no overflow over the iterations
    nccl.synchronize(nccl.stream(), "zeroing the benchmark buffer");
    bench::register_allreduce_benchmarks(
        "BM_AllreduceNccl",
        [&](std::size_t count) {
          nccl.allreduce_sum(buffer.data(), count);
          nccl.synchronize(nccl.stream(), "the benchmark all-reduce");
        },
        gradient_floats, world.size());
    const int rc = bench::run_benchmarks_rank0_reports(argc, argv, rank);
    fixture.reset();
    return rc;
  } catch (const std::exception& e) {
    std::cerr << "bench_cuda (rank " << rank << "): " << e.what() << '\n';
    mpi.abort(1);
  }
}

// bench_cpu.cpp — CPU throughput of the seed CNN, next to the machine's sgemm rate.
//
//   BM_Sgemm/1024        : a 1024³ single-precision GEMM, oneDNN's dnnl_sgemm on the
//                          backend's threads (the GEMM the dense layers' inner product
//                          runs, x64:gemm:jit) — the ceiling.
//   BM_Augment/B         : the training-batch augmentation (random affine, bilinear) of
//                          B images over the backend's threads, as the trainer runs it: images/s.
//   BM_TrainStep/B       : one training step at batch B (augmentation, forward, loss,
//                          backward, Adam update): images/s, and GFLOP/s of its matrix products.
//   BM_LayerForward/NN_name, BM_LayerBackward/NN_name : layer NN of the seed CNN
//                          at batch 128, alone (manual timing around the call only).
// Every row that does arithmetic reports GFLOP/s (FLOP counts from the layer shapes,
// bench/layer_flops.hpp) and GB/s (the minimum memory traffic); GEMM-bound rows also
// `%_of_sgemm`, their rate over the sgemm ceiling, which is measured once per process
// (best of several 1024³ products on the same threads) and printed as `sgemm_GFLOP/s`.
// Threads: MNIST_DDP_THREADS (default: all cores). The context names the ceiling's GEMM
// ("sgemm"), oneDNN's version and ISA ("onednn") and each primitive's implementation
// ("onednn_primitives").
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "counters.hpp"
#include "layer_flops.hpp"
#include <dnnl.hpp>

#include "mnist_ddp/cpu/conv_passes.hpp"
#include "mnist_ddp/cpu/dnnl_info.hpp"
#include "mnist_ddp/cpu/threads.hpp"
#include "mnist_ddp/data/augment.hpp"
#include "mnist_ddp/nn/loss.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/optimizer.hpp"

namespace mnist_ddp {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kLayerBatch = 128;
constexpr int kCeilingN = 1024;

std::vector<float> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

std::vector<std::uint8_t> random_images(int n, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<std::uint8_t> images(static_cast<std::size_t>(n) * 784);
  for (auto& p : images) p = static_cast<std::uint8_t>(gen() % 256);
  return images;
}

double seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// C(n×n) = A · B, row-major, oneDNN's sgemm on the OpenMP threads.
void square_sgemm(int n, const float* a, const float* b, float* c) {
  const dnnl::status s = dnnl::sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
  if (s != dnnl::status::success) {
    std::fprintf(stderr, "bench_cpu: dnnl_sgemm %d³ failed (status %d)\n", n, static_cast<int>(s));
    std::exit(1);
  }
}

// The sgemm ceiling on the backend's threads, GFLOP/s: the best of 5 timed
// batches of 1024³ products after a warm-up, measured the first time a row asks.
double sgemm_ceiling_gflops() {
  static const double ceiling = [] {
    const int n = kCeilingN;
    const auto a = random_vector(static_cast<std::size_t>(n) * n, 1), b = random_vector(static_cast<std::size_t>(n) * n, 2);
    std::vector<float> c(static_cast<std::size_t>(n) * n);
    auto product = [&] { square_sgemm(n, a.data(), b.data(), c.data()); };
    product();
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t = Clock::now();
      int calls = 0;
      do {
        product();
        ++calls;
      } while (seconds(t) < 0.1);
      best = std::max(best, 2.0 * n * n * n * calls / seconds(t) / 1e9);
    }
    benchmark::DoNotOptimize(c.data());
    return best;
  }();
  return ceiling;
}

// The counters of a row (counters.hpp), with the sgemm ceiling for GEMM-bound work.
void set_rate_counters(benchmark::State& state, double flops, double bytes, bool gemm, double seconds) {
  bench::set_rate_counters(state, flops, bytes, gemm ? sgemm_ceiling_gflops() : 0.0, seconds);
}

void BM_Sgemm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const auto a = random_vector(static_cast<std::size_t>(n) * n, 1), b = random_vector(static_cast<std::size_t>(n) * n, 2);
  std::vector<float> c(static_cast<std::size_t>(n) * n);
  const auto loop_start = Clock::now();
  for (auto _ : state) {
    square_sgemm(n, a.data(), b.data(), c.data());
    benchmark::DoNotOptimize(c.data());
  }
  set_rate_counters(state, 2.0 * n * n * static_cast<double>(n), 0.0, false, seconds(loop_start));
}
BENCHMARK(BM_Sgemm)->Arg(kCeilingN)->Unit(benchmark::kMillisecond)->UseRealTime();

// The trainer's batch fill (Trainer::fill_batch with augmentation on): one
// transform drawn per sample from (seed, epoch, sample), applied bilinearly.
void augment_batch(const std::uint8_t* images, int n, std::uint32_t epoch, float* x) {
  const AugmentRanges ranges;
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    const Affine t = sample_affine(42, epoch, static_cast<std::uint64_t>(i), ranges, 28, 28);
    augment_image(images + static_cast<std::size_t>(i) * 784, 28, 28, t, x + static_cast<std::size_t>(i) * 784);
  }
}

void BM_Augment(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const auto images = random_images(batch, 3);
  std::vector<float> x(images.size());
  std::uint32_t epoch = 0;
  const auto loop_start = Clock::now();
  for (auto _ : state) {
    augment_batch(images.data(), batch, epoch++, x.data());
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);  // items_per_second = images/s
  state.counters["images/s"] = static_cast<double>(batch) * state.iterations() / seconds(loop_start);
}
BENCHMARK(BM_Augment)->Arg(64)->Arg(128)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_TrainStep(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  Model model(seed_cnn(), kMnistInput, batch);
  model.initialize(42);
  Optimizer opt(OptimizerHyper{}, model.params().size());
  const auto images = random_images(batch, 3);
  std::mt19937 gen(4);
  std::vector<std::uint8_t> labels(batch);
  for (auto& l : labels) l = static_cast<std::uint8_t>(gen() % 10);
  std::vector<float> x(images.size()), dlogits(static_cast<std::size_t>(batch) * 10);
  std::vector<std::int64_t> ids(batch);
  for (int i = 0; i < batch; ++i) ids[i] = i;
  std::uint32_t epoch = 0;
  const auto loop_start = Clock::now();
  for (auto _ : state) {
    augment_batch(images.data(), batch, epoch, x.data());
    ForwardContext ctx{true, 42, epoch++, ids.data(), opt.iterations()};
    const float* logits = model.forward(x.data(), batch, ctx);
    softmax_cross_entropy(logits, labels.data(), batch, 10, dlogits.data(), 1.0f / batch);
    model.backward(dlogits.data(), batch);
    opt.step(model.params().data(), model.grads().data(), 1e-3);
  }
  const double loop_seconds = seconds(loop_start);
  state.counters["images/s"] = static_cast<double>(batch) * state.iterations() / loop_seconds;
  set_rate_counters(state, bench::train_step_gemm_flops_per_image(model.specs(), model.layers()) * batch, 0.0, true,
                    loop_seconds);
}
BENCHMARK(BM_TrainStep)->Arg(64)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- one layer at a time ---------------------------------------------------------

// The seed CNN at batch 128, shared by the per-layer rows; layer i is run on
// random non-negative inputs (what follows a ReLU) of its input shape.
struct LayerFixture {
  Model model{seed_cnn(), kMnistInput, kLayerBatch};
  std::vector<std::int64_t> ids;
  LayerFixture() {
    model.initialize(1);
    for (int i = 0; i < kLayerBatch; ++i) ids.push_back(i);
  }
};

LayerFixture& layer_fixture() {
  static LayerFixture fx;
  return fx;
}

// Times forward or backward of one layer alone: the timer runs around the call
// only (backward may overwrite dy, which is restored outside the timed region).
void layer_bench(benchmark::State& state, std::size_t index, bool backward) {
  LayerFixture& fx = layer_fixture();
  Layer& layer = *fx.model.layers()[index];
  const int n = kLayerBatch;
  ForwardContext ctx{true, 1, 0, fx.ids.data()};
  std::vector<float> in = random_vector(static_cast<std::size_t>(n) * layer.input_shape().size(), 7);
  for (float& v : in) v = std::abs(v);
  std::vector<float> out(static_cast<std::size_t>(n) * layer.output_shape().size());
  const std::vector<float> dy = random_vector(out.size(), 9);
  std::vector<float> dx(in.size()), g(dy.size());
  layer.forward(in.data(), out.data(), n, ctx);  // the state backward needs (BatchNorm statistics, pool indices)
  double total = 0;
  for (auto _ : state) {
    double elapsed = 0;
    if (backward) {
      std::copy(dy.begin(), dy.end(), g.begin());
      const auto t = Clock::now();
      // The first layer gets no dx, as in the model (Conv2D then makes no backward-data primitive).
      layer.backward(in.data(), out.data(), g.data(), index == 0 ? nullptr : dx.data(), n);
      elapsed = seconds(t);
    } else {
      const auto t = Clock::now();
      layer.forward(in.data(), out.data(), n, ctx);
      elapsed = seconds(t);
    }
    state.SetIterationTime(elapsed);
    total += elapsed;
    benchmark::ClobberMemory();
  }
  state.SetLabel(layer.name());
  const bench::LayerCost c = bench::layer_cost(fx.model.specs()[index], layer.input_shape(), layer.output_shape(),
                                                 index != 0);  // no dX for the first layer (above)
  set_rate_counters(state, (backward ? c.backward_flops : c.forward_flops) * n,
                    (backward ? c.backward_bytes : c.forward_bytes) * n, c.gemm, total);
}

// One forward and one backward row per layer, named after its index and Keras name.
void register_layer_benchmarks() {
  Model& model = layer_fixture().model;
  for (std::size_t i = 0; i < model.layers().size(); ++i) {
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "/%02zu_", i);
    const std::string suffix = prefix + model.layers()[i]->name();
    for (const bool backward : {false, true}) {
      benchmark::RegisterBenchmark((std::string(backward ? "BM_LayerBackward" : "BM_LayerForward") + suffix).c_str(),
                                   [i, backward](benchmark::State& s) { layer_bench(s, i, backward); })
          ->Unit(benchmark::kMicrosecond)
          ->UseManualTime();
    }
  }
}

}  // namespace

// One training step of the per-layer fixture creates every oneDNN primitive the
// rows run (backward-data only exists once a backward asked for dx); their
// implementations go into the context ("onednn_primitives").
void add_primitives_context() {
  Model& model = layer_fixture().model;
  const int n = kLayerBatch;
  const std::vector<float> x = random_vector(static_cast<std::size_t>(n) * 784, 5);
  std::vector<float> dlogits = random_vector(static_cast<std::size_t>(n) * 10, 6);
  ForwardContext ctx{true, 1, 0, layer_fixture().ids.data()};
  model.forward(x.data(), n, ctx);
  model.backward(dlogits.data(), n);
  benchmark::AddCustomContext("onednn_primitives", dnnl_primitives_description());
}

// Before Google Benchmark starts: threads, and what runs (the ceiling's GEMM,
// oneDNN) in the context that heads the output (and the JSON file).
void init_bench_context() {
  const char* env = std::getenv("MNIST_DDP_THREADS");
  set_cpu_threads(env ? std::atoi(env) : 0);
  const char* algo = std::getenv("MNIST_DDP_CONV_ALGORITHM");
  if (algo != nullptr && std::string(algo) == "direct") set_conv_algorithm(ConvAlgorithm::kDirect);
  benchmark::AddCustomContext("conv_algorithm", to_string(conv_algorithm()));
  benchmark::AddCustomContext("sgemm", "oneDNN dnnl_sgemm (row-major, OpenMP threads)");
  benchmark::AddCustomContext("onednn", dnnl_description());
  benchmark::AddCustomContext("threads", std::to_string(cpu_threads()));
  benchmark::AddCustomContext("layer_batch", std::to_string(kLayerBatch));
}

}  // namespace mnist_ddp

int main(int argc, char** argv) {
  mnist_ddp::init_bench_context();
  mnist_ddp::register_layer_benchmarks();
  mnist_ddp::add_primitives_context();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// bench_cpu.cpp — CPU throughput of the seed CNN, next to the machine's sgemm rate.
//
//   BM_Sgemm          : a 1024³ single-precision GEMM split over the backend's
//                       threads, exactly as the layers call OpenBLAS — the ceiling.
//   BM_TrainStep      : one training step at batch 128 (augmented batch, forward,
//                       loss, backward, Adam update): images/s and GFLOP/s.
//   BM_LayerForward / BM_LayerBackward : each layer of the seed CNN at batch 128.
// Threads: MNIST_DDP_THREADS (default: all cores). The BLAS kernel that ran is
// printed in the context ("blas").
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "mnist_ddp/cpu/blas.hpp"
#include "mnist_ddp/data/augment.hpp"
#include "mnist_ddp/nn/loss.hpp"
#include "mnist_ddp/nn/model.hpp"
#include "mnist_ddp/nn/optimizer.hpp"

namespace mnist_ddp {
namespace {

constexpr int kBatch = 128;

// Multiply-adds per image of each layer's forward pass; backward costs twice that.
double layer_forward_flops(Layer& layer) {
  const Shape3 in = layer.input_shape(), out = layer.output_shape();
  switch (layer.kind()) {
    case LayerKind::kConv2D: return 2.0 * out.size() * (layer.param_count() - out.c) / out.c;
    case LayerKind::kDense: return 2.0 * (layer.param_count() - out.c);
    default: return static_cast<double>(in.size());  // element-wise: one op per element
  }
}

}  // namespace

// Before Google Benchmark starts: threads, and the BLAS kernel in the context
// that heads the output (and the JSON file).
void init_bench_context() {
  const char* env = std::getenv("MNIST_DDP_THREADS");
  set_cpu_threads(env ? std::atoi(env) : 0);
  benchmark::AddCustomContext("blas", blas_description());
  benchmark::AddCustomContext("threads", std::to_string(cpu_threads()));
}

namespace {

std::vector<float> random_vector(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

void BM_Sgemm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const auto a = random_vector(static_cast<std::size_t>(n) * n, 1), b = random_vector(static_cast<std::size_t>(n) * n, 2);
  std::vector<float> c(static_cast<std::size_t>(n) * n);
  for (auto _ : state) {
    parallel_sgemm(Trans::kNo, Trans::kNo, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * n * n * n * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Sgemm)->Arg(1024)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_TrainStep(benchmark::State& state) {
  Model model(seed_cnn(), kMnistInput, kBatch);
  model.initialize(42);
  Optimizer opt(OptimizerHyper{}, model.params().size());
  std::mt19937 gen(3);
  std::vector<std::uint8_t> images(static_cast<std::size_t>(kBatch) * 784), labels(kBatch);
  for (auto& p : images) p = static_cast<std::uint8_t>(gen() % 256);
  for (auto& l : labels) l = static_cast<std::uint8_t>(gen() % 10);
  std::vector<float> x(static_cast<std::size_t>(kBatch) * 784), dlogits(kBatch * 10);
  std::vector<std::int64_t> ids(kBatch);
  for (int i = 0; i < kBatch; ++i) ids[i] = i;
  double flops = 0;
  for (auto& l : model.layers()) flops += 3.0 * layer_forward_flops(*l) * kBatch;
  std::uint32_t epoch = 0;
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < kBatch; ++i) {
      const Affine t = sample_affine(42, epoch, i, AugmentRanges{}, 28, 28);
      augment_image(images.data() + i * 784, 28, 28, t, x.data() + i * 784);
    }
    ForwardContext ctx{true, 42, epoch++, ids.data()};
    const float* logits = model.forward(x.data(), kBatch, ctx);
    softmax_cross_entropy(logits, labels.data(), kBatch, 10, dlogits.data(), 1.0f / kBatch);
    model.backward(dlogits.data(), kBatch);
    opt.step(model.params().data(), model.grads().data(), 1e-3);
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(kBatch) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TrainStep)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

// Per-layer benchmarks over the seed CNN: arg = layer index.
struct LayerFixture {
  Model model{seed_cnn(), kMnistInput, kBatch};
  std::vector<float> x = random_vector(static_cast<std::size_t>(kBatch) * 784, 5);
  std::vector<std::int64_t> ids;
  LayerFixture() {
    model.initialize(1);
    for (int i = 0; i < kBatch; ++i) ids.push_back(i);
  }
};

void layer_bench(benchmark::State& state, bool backward) {
  static LayerFixture fx;
  const int index = static_cast<int>(state.range(0));
  Layer& layer = *fx.model.layers()[index];
  ForwardContext ctx{true, 1, 0, fx.ids.data()};
  // Run the model once so every layer has a realistic input.
  fx.model.forward(fx.x.data(), kBatch, ctx);
  std::vector<float> in = random_vector(static_cast<std::size_t>(kBatch) * layer.input_shape().size(), 7);
  for (float& v : in) v = std::abs(v);
  std::vector<float> out(static_cast<std::size_t>(kBatch) * layer.output_shape().size());
  std::vector<float> dy = random_vector(out.size(), 9), dx(in.size()), g(dy.size());
  layer.forward(in.data(), out.data(), kBatch, ctx);
  for (auto _ : state) {
    if (backward) {
      g = dy;
      layer.backward(in.data(), out.data(), g.data(), dx.data(), kBatch);
    } else {
      layer.forward(in.data(), out.data(), kBatch, ctx);
    }
  }
  state.SetLabel(layer.name());
  const double flops = layer_forward_flops(layer) * kBatch * (backward ? 2.0 : 1.0);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
void BM_LayerForward(benchmark::State& state) { layer_bench(state, false); }
void BM_LayerBackward(benchmark::State& state) { layer_bench(state, true); }
BENCHMARK(BM_LayerForward)->DenseRange(0, 20)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_LayerBackward)->DenseRange(0, 20)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace mnist_ddp

int main(int argc, char** argv) {
  mnist_ddp::init_bench_context();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

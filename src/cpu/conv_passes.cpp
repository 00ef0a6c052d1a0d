// conv_passes.cpp — the Conv2D algorithm choice (conv_passes.hpp).
#include "mnist_ddp/cpu/conv_passes.hpp"

#include <atomic>

#include "mnist_ddp/core/enum_name.hpp"
#include "mnist_ddp/cpu/conv2d_primitives.hpp"
#include "mnist_ddp/cpu/single_channel_conv.hpp"
#include "mnist_ddp/cpu/winograd_conv.hpp"

namespace mnist_ddp {

namespace {
std::atomic<ConvAlgorithm> g_algorithm{ConvAlgorithm::kWinograd};
}  // namespace

const char* to_string(ConvAlgorithm a) {
  static constexpr const char* kNames[] = {"winograd", "direct"};
  return enum_name(a, kNames);
}

void set_conv_algorithm(ConvAlgorithm a) { g_algorithm = a; }
ConvAlgorithm conv_algorithm() { return g_algorithm; }

ConvAlgorithm conv_algorithm_for(const ConvGeometry& g) {
  if (conv_algorithm() == ConvAlgorithm::kDirect || !winograd_supports(g)) return ConvAlgorithm::kDirect;
  return ConvAlgorithm::kWinograd;
}

std::unique_ptr<ConvPasses> make_conv_passes(const ConvGeometry& g, int n, const std::string& name) {
  if (conv_algorithm_for(g) == ConvAlgorithm::kWinograd) return std::make_unique<WinogradConv>(g, n, name);
  if (conv_algorithm() != ConvAlgorithm::kDirect && single_channel_conv_supports(g))
    return std::make_unique<SingleChannelConv>(g, n, name);
  return std::make_unique<ConvPrimitives>(g, n, name);
}

}  // namespace mnist_ddp

// random_vector.cpp — see random_vector.hpp.
#include "support/random_vector.hpp"

#include <random>

namespace mnist_ddp::test_support {

std::vector<float> random_vector(std::size_t count, float lo, float hi, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(count);
  for (float& f : v) f = u(gen);
  return v;
}

}  // namespace mnist_ddp::test_support

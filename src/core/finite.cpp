// finite.cpp — see core/finite.hpp.
#include "mnist_ddp/core/finite.hpp"

#include <cstdint>
#include <cstring>

namespace mnist_ddp {

bool all_finite(const float* values, std::size_t count) {
  std::uint32_t bad = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, values + i, sizeof bits);
    bad |= static_cast<std::uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

}  // namespace mnist_ddp

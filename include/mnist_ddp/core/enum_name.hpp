// enum_name.hpp — the name of an enum value from its list of names.
#pragma once

#include <cstddef>

namespace mnist_ddp {

// names[e], the names listed in the enum's order; "?" for a value past the list.
template <typename Enum, std::size_t N>
constexpr const char* enum_name(Enum e, const char* const (&names)[N]) {
  const auto i = static_cast<std::size_t>(e);
  return i < N ? names[i] : "?";
}

}  // namespace mnist_ddp

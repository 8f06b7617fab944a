// keel/state/enum_names.h — the wire names of the store's small enums.
//
// Each to_string() of an enum numbered 0..N-1 in declaration order (no
// explicit values) looks its name up in an array that lists the names in that
// order; a value outside the enum gets the given fallback.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace keel::state {

template <class Enum, std::size_t N>
constexpr std::string_view enum_name(Enum value, const std::array<std::string_view, N>& names,
                                     std::string_view otherwise) {
  const auto index = static_cast<std::size_t>(value);
  return index < N ? names[index] : otherwise;
}

}  // namespace keel::state

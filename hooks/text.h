// text.h — small text helpers shared inside hooks/ (not a public API).
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace keel::hooks::text {

// ASCII lower case; other bytes (UTF-8 included) are kept as they are.
inline std::string lower(std::string_view s) {
  std::string r(s);
  for (char& ch : r) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return r;
}

}  // namespace keel::hooks::text

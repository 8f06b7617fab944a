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

// A path with backslashes as slashes, runs of slashes as one and no trailing slash ("a\b//c/"
// → "a/b/c"; "/" stays "/").
inline std::string slash_path(std::string_view in) {
  std::string s;
  for (char ch : in) {
    if (ch == '\\') ch = '/';
    if (ch == '/' && !s.empty() && s.back() == '/') continue;
    s += ch;
  }
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace keel::hooks::text

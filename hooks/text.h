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

// The value of a hexadecimal digit, -1 for any other character.
inline int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends code point `cp` as UTF-8; nothing for a value past U+10FFFF.
inline void put_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x110000) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
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

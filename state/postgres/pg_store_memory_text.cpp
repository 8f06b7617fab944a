// keel/state/postgres/pg_store_memory_text.cpp — see pg_store_memory_text.h.
#include "state/postgres/pg_store_memory_text.h"

#include <cstdint>
#include <vector>

namespace keel::state::pg_memory_text {

namespace {

// Decodes the code point at s[i]; returns its length in bytes, 0 when the
// sequence is malformed.
std::size_t decode(std::string_view s, std::size_t i, std::uint32_t& cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  if ((c & 0xe0) == 0xc0) {
    n = 1;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 2;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 3;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n >= s.size()) return 0;
  for (std::size_t k = 1; k <= n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n + 1;
}

void encode(std::uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

}  // namespace

bool valid_utf8(std::string_view s) {
  std::uint32_t cp = 0;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = decode(s, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::optional<std::string> utf8_prefix_successor(std::string_view prefix) {
  std::vector<std::uint32_t> cps;
  std::uint32_t cp = 0;
  for (std::size_t i = 0; i < prefix.size();) {
    const std::size_t n = decode(prefix, i, cp);
    if (n == 0) return std::nullopt;  // not UTF-8: the caller refuses it first
    cps.push_back(cp);
    i += n;
  }
  // Drop trailing maximal code points, then increment the last one (skipping
  // the surrogates, which UTF-8 cannot encode).
  while (!cps.empty() && cps.back() == 0x10ffff) cps.pop_back();
  if (cps.empty()) return std::nullopt;
  cps.back() = cps.back() == 0xd7ff ? 0xe000 : cps.back() + 1;
  std::string out;
  for (const std::uint32_t c : cps) encode(c, out);
  return out;
}

std::string tokenizable(std::string_view text) {
  std::string out(text);
  for (char& ch : out) {
    const auto u = static_cast<unsigned char>(ch);
    const bool alnum = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
    if (u < 0x80 && !alnum) ch = ' ';
  }
  return out;
}

}  // namespace keel::state::pg_memory_text

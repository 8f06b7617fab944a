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

namespace {

// Non-ASCII code points that FTS5's unicode61 treats as separators
// (punctuation, spaces, symbols) in the blocks where text written by people
// and agents meets them: Latin-1 punctuation, general punctuation (dashes,
// curly quotes, ellipsis, special spaces), arrows, math and technical
// symbols, box drawing and dingbats, CJK and full-width punctuation, emoji.
// Letters and digits inside those ranges (ª, º, µ, superscripts, fractions,
// 々, 〇...) are left out of the table: they are tokens in FTS5 too.
bool separator(std::uint32_t cp) {
  struct Range {
    std::uint32_t lo, hi;
  };
  static constexpr Range kSeparators[] = {
      {0x00a0, 0x00a9}, {0x00ab, 0x00b1}, {0x00b4, 0x00b4}, {0x00b6, 0x00b8},
      {0x00bb, 0x00bb}, {0x00bf, 0x00bf}, {0x00d7, 0x00d7}, {0x00f7, 0x00f7},
      {0x2000, 0x206f}, {0x2190, 0x23ff}, {0x2500, 0x2775}, {0x2794, 0x27bf},
      {0x2e00, 0x2e7f}, {0x3000, 0x3004}, {0x3008, 0x3020}, {0x3030, 0x3030},
      {0xfe10, 0xfe1f}, {0xfe30, 0xfe4f}, {0xff01, 0xff0f}, {0xff1a, 0xff20},
      {0xff3b, 0xff40}, {0xff5b, 0xff65}, {0x1f300, 0x1faff},
  };
  for (const Range& r : kSeparators) {
    if (cp >= r.lo && cp <= r.hi) return true;
  }
  return false;
}

}  // namespace

std::string tokenizable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u < 0x80) {
      const bool alnum =
          (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
      out += alnum ? static_cast<char>(u) : ' ';
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    const std::size_t n = decode(text, i, cp);
    if (n == 0) {  // not UTF-8: kept as it is (the caller decides)
      out += text[i];
      ++i;
    } else {
      if (separator(cp)) {
        out += ' ';
      } else {
        out.append(text.substr(i, n));
      }
      i += n;
    }
  }
  return out;
}

std::string search_body(std::string text) {
  if (text.size() > kMaxSearchBodyBytes) {
    std::size_t cut = kMaxSearchBodyBytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
    text.resize(cut);  // on a character boundary
  }
  return tokenizable(text);
}

}  // namespace keel::state::pg_memory_text

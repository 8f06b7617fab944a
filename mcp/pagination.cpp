// keel/mcp/pagination.cpp
#include "mcp/pagination.h"

#include <array>
#include <cstdint>

namespace keel::mcp {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view kPrefix = "keel.";

std::string b64url_encode(std::string_view in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3F];
  return out;
}

std::optional<std::string> b64url_decode(std::string_view in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const auto pos = kAlphabet.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  // Leftover bits must be zero padding, and a 1-char tail is impossible.
  if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace

std::string encode_cursor(std::string_view tag, std::size_t offset) {
  std::string plain(kPrefix);
  plain += tag;
  plain += ':';
  plain += std::to_string(offset);
  return b64url_encode(plain);
}

std::optional<std::size_t> decode_cursor(std::string_view tag, std::string_view cursor) {
  if (cursor.empty() || cursor.size() > 128) return std::nullopt;
  auto plain = b64url_decode(cursor);
  if (!plain) return std::nullopt;
  std::string expected(kPrefix);
  expected += tag;
  expected += ':';
  if (plain->size() <= expected.size() || plain->compare(0, expected.size(), expected) != 0) {
    return std::nullopt;
  }
  std::string_view digits = std::string_view(*plain).substr(expected.size());
  if (digits.size() > 12 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  std::size_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

}  // namespace keel::mcp

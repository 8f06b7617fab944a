// keel/observe/trace_context.cpp — traceparent parsing and ids (trace_context.h).
#include "observe/trace_context.h"

#include <random>

#include "crypto/random.h"

namespace keel::observe {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is not allowed
}

// Reads 2*n lowercase hex digits at `text` into `out`.
bool read_hex(std::string_view text, std::uint8_t* out, std::size_t n) {
  if (text.size() != 2 * n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& a) {
  for (auto b : a) {
    if (b != 0) return false;
  }
  return true;
}

std::mt19937_64& generator() {
  thread_local std::mt19937_64 g = [] {
    const std::string seed = crypto::secure_random_hex(16);
    std::seed_seq seq(seed.begin(), seed.end());
    return std::mt19937_64(seq);
  }();
  return g;
}

template <std::size_t N>
std::array<std::uint8_t, N> random_id() {
  std::array<std::uint8_t, N> id{};
  do {
    for (std::size_t i = 0; i < N; i += 8) {
      std::uint64_t r = generator()();
      for (std::size_t j = 0; j < 8 && i + j < N; ++j) id[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
    }
  } while (all_zero(id));
  return id;
}

}  // namespace

std::optional<TraceParent> parse_traceparent(std::string_view text) {
  if (text.size() < 55) return std::nullopt;
  std::uint8_t version = 0;
  if (!read_hex(text.substr(0, 2), &version, 1) || version == 0xff) return std::nullopt;
  if (version == 0 && text.size() != 55) return std::nullopt;
  if (text.size() > 55 && text[55] != '-') return std::nullopt;
  if (text[2] != '-' || text[35] != '-' || text[52] != '-') return std::nullopt;
  TraceParent tp;
  if (!read_hex(text.substr(3, 32), tp.trace_id.data(), 16)) return std::nullopt;
  if (!read_hex(text.substr(36, 16), tp.parent_id.data(), 8)) return std::nullopt;
  if (!read_hex(text.substr(53, 2), &tp.flags, 1)) return std::nullopt;
  if (all_zero(tp.trace_id) || all_zero(tp.parent_id)) return std::nullopt;
  return tp;
}

std::optional<std::string> valid_tracestate(std::string_view text) {
  if (text.empty() || text.size() > 512) return std::nullopt;
  bool blank = true;
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) return std::nullopt;
    if (c != ' ' && c != '\t' && c != ',') blank = false;
  }
  if (blank) return std::nullopt;
  return std::string(text);
}

TraceId new_trace_id() { return random_id<16>(); }
SpanId new_span_id() { return random_id<8>(); }

std::string to_hex(const std::uint8_t* bytes, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

}  // namespace keel::observe

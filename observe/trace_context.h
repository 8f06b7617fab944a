// keel/observe/trace_context.h — W3C Trace Context (traceparent, tracestate) and span ids.
//
// A request continues its caller's trace when params._meta carries a valid
// `traceparent` (the MCP semantic conventions put trace context there); anything
// else starts a new trace.
//
// Thread safety: free functions, reentrant; new ids come from a per-thread generator.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace keel::observe {

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

struct TraceParent {
  TraceId trace_id{};
  SpanId parent_id{};
  std::uint8_t flags = 0;
};

// Parses a traceparent header value strictly (W3C Trace Context level 1):
// "VV-<32 hex>-<16 hex>-<2 hex>", lowercase hex only; version ff, an all-zero
// trace or parent id, or a wrong length are refused (nullopt). Version 00 must be
// exactly 55 characters; a later version may carry more after a '-'.
std::optional<TraceParent> parse_traceparent(std::string_view text);

// A tracestate value worth passing on: ≤ 512 characters of printable ASCII, not
// blank. Otherwise nullopt (the span carries none).
std::optional<std::string> valid_tracestate(std::string_view text);

TraceId new_trace_id();  // random, never all zeros
SpanId new_span_id();    // random, never all zeros

std::string to_hex(const std::uint8_t* bytes, std::size_t n);
inline std::string to_hex(const TraceId& id) { return to_hex(id.data(), id.size()); }
inline std::string to_hex(const SpanId& id) { return to_hex(id.data(), id.size()); }

}  // namespace keel::observe

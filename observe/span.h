// keel/observe/span.h — one finished span, and its OTLP/HTTP JSON encoding.
//
// The encoding follows the OTLP JSON mapping of ExportTraceServiceRequest:
// {"resourceSpans":[{"resource":{attributes},"scopeSpans":[{"scope":{...},"spans":[...]}]}]},
// trace and span ids as lowercase hex, times as decimal strings of Unix nanoseconds,
// kind and status code as the enums' integers, int attributes as decimal strings.
//
// Thread safety: values; otlp_json is reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "observe/trace_context.h"

namespace keel::observe {

enum class SpanKind { kInternal = 1, kServer = 2 };

struct SpanAttribute {
  std::string key;
  std::variant<std::string, std::int64_t, bool> value;
};

struct Span {
  TraceId trace_id{};
  SpanId span_id{};
  std::optional<SpanId> parent_id;  // none: a root span
  std::string trace_state;          // "" when none
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  std::int64_t start_unix_ns = 0;
  std::int64_t end_unix_ns = 0;
  std::vector<SpanAttribute> attributes;
  bool error = false;          // status ERROR (else UNSET)
  std::string status_message;  // with error
};

// One export request's body for `spans` of the service `service_name`.
std::string otlp_json(const std::vector<Span>& spans, const std::string& service_name);

}  // namespace keel::observe

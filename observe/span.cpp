// keel/observe/span.cpp — the OTLP/HTTP JSON encoding of spans (span.h).
#include "observe/span.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace keel::observe {

namespace json = boost::json;

namespace {

json::object attribute(const SpanAttribute& a) {
  json::object value;
  if (const auto* s = std::get_if<std::string>(&a.value)) {
    value["stringValue"] = *s;
  } else if (const auto* i = std::get_if<std::int64_t>(&a.value)) {
    value["intValue"] = std::to_string(*i);
  } else {
    value["boolValue"] = std::get<bool>(a.value);
  }
  return json::object{{"key", a.key}, {"value", std::move(value)}};
}

json::object span_json(const Span& s) {
  json::object o;
  o["traceId"] = to_hex(s.trace_id);
  o["spanId"] = to_hex(s.span_id);
  if (s.parent_id) o["parentSpanId"] = to_hex(*s.parent_id);
  if (!s.trace_state.empty()) o["traceState"] = s.trace_state;
  o["name"] = s.name;
  o["kind"] = static_cast<int>(s.kind);
  o["startTimeUnixNano"] = std::to_string(s.start_unix_ns);
  o["endTimeUnixNano"] = std::to_string(s.end_unix_ns);
  json::array attrs;
  for (const auto& a : s.attributes) attrs.emplace_back(attribute(a));
  o["attributes"] = std::move(attrs);
  json::object status;
  if (s.error) {
    status["code"] = 2;  // STATUS_CODE_ERROR
    if (!s.status_message.empty()) status["message"] = s.status_message;
  } else {
    status["code"] = 0;  // STATUS_CODE_UNSET
  }
  o["status"] = std::move(status);
  return o;
}

}  // namespace

std::string otlp_json(const std::vector<Span>& spans, const std::string& service_name) {
  json::array list;
  for (const auto& s : spans) list.emplace_back(span_json(s));
  json::object scope{{"name", "keel"}};
  json::object scope_spans{{"scope", std::move(scope)}, {"spans", std::move(list)}};
  json::object resource{
      {"attributes", json::array{attribute(SpanAttribute{"service.name", service_name})}}};
  json::object rs{{"resource", std::move(resource)},
                  {"scopeSpans", json::array{std::move(scope_spans)}}};
  return json::serialize(json::object{{"resourceSpans", json::array{std::move(rs)}}});
}

}  // namespace keel::observe

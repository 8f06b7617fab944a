// keel/mcp/jsonrpc.cpp — parsing and serializing JSON-RPC 2.0 messages.
#include "mcp/jsonrpc.h"

#include <cmath>
#include <functional>

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>

namespace keel::mcp::jsonrpc {

namespace json = boost::json;

std::optional<RequestId> RequestId::from_json(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string:
      return RequestId(std::string(v.get_string()));
    case json::kind::int64:
      return RequestId(v.get_int64());
    case json::kind::uint64:
      if (v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
        return RequestId(static_cast<std::int64_t>(v.get_uint64()));
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

json::value RequestId::to_json() const {
  if (is_string_) return json::value(json::string(str_));
  return json::value(num_);
}

std::string RequestId::to_string() const {
  if (is_string_) return "\"" + str_ + "\"";
  return std::to_string(num_);
}

std::size_t RequestId::hash() const {
  if (is_string_) return std::hash<std::string>{}(str_) ^ 0x9e37;
  return std::hash<std::int64_t>{}(num_);
}

namespace {

// Boost.JSON parses 1e400 as infinity and would serialize it as "Infinity",
// which is not JSON; refuse such input up front.
bool all_finite(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_:
      return std::isfinite(v.get_double());
    case json::kind::array:
      for (const auto& e : v.get_array()) {
        if (!all_finite(e)) return false;
      }
      return true;
    case json::kind::object:
      for (const auto& kv : v.get_object()) {
        if (!all_finite(kv.value())) return false;
      }
      return true;
    default:
      return true;
  }
}

MalformedMessage malformed(std::optional<RequestId> id, ErrorCode code, std::string message,
                           bool reply = true) {
  MalformedMessage m;
  m.id = std::move(id);
  m.error = Error(code, std::move(message));
  m.reply = reply;
  return m;
}

}  // namespace

Incoming parse_message(std::string_view raw, const ParseLimits& limits) {
  if (raw.size() > limits.max_message_bytes) {
    return malformed(std::nullopt, ErrorCode::kInvalidRequest,
                     "Message too large (limit " + std::to_string(limits.max_message_bytes) +
                         " bytes)");
  }
  json::parse_options opts;
  opts.max_depth = limits.max_depth;
  opts.allow_comments = false;
  opts.allow_trailing_commas = false;
  opts.allow_invalid_utf8 = false;
  json::error_code ec;
  json::value doc = json::parse(raw, ec, json::storage_ptr(), opts);
  if (ec) return malformed(std::nullopt, ErrorCode::kParseError, "Parse error: " + ec.message());
  if (!all_finite(doc)) {
    return malformed(std::nullopt, ErrorCode::kParseError, "Parse error: number out of range");
  }
  if (doc.is_array()) {
    return malformed(std::nullopt, ErrorCode::kInvalidRequest,
                     "Invalid Request: batches are not supported");
  }
  if (!doc.is_object()) {
    return malformed(std::nullopt, ErrorCode::kInvalidRequest,
                     "Invalid Request: a message must be a JSON object");
  }
  json::object& obj = doc.get_object();

  // Recover the id first so that later errors can carry it.
  const json::value* id_v = obj.if_contains("id");
  std::optional<RequestId> id;
  bool bad_id = false;
  if (id_v != nullptr) {
    id = RequestId::from_json(*id_v);
    bad_id = !id.has_value();
  }
  const json::value* method_v = obj.if_contains("method");
  // A message with a method and no id is a notification: never answered.
  // A message without a method but with result/error is a response: never
  // answered either (answering could start an error ping-pong with the peer).
  const bool looks_like_response =
      method_v == nullptr && (obj.contains("result") || obj.contains("error"));
  const bool silent = (method_v != nullptr && id_v == nullptr) || looks_like_response;
  if (looks_like_response && id_v != nullptr && id_v->is_null()) bad_id = false;

  const json::value* version = obj.if_contains("jsonrpc");
  if (version == nullptr || !version->is_string() || version->get_string() != "2.0") {
    return malformed(id, ErrorCode::kInvalidRequest,
                     "Invalid Request: \"jsonrpc\" must be \"2.0\"", !silent);
  }
  if (bad_id) {
    return malformed(std::nullopt, ErrorCode::kInvalidRequest,
                     "Invalid Request: \"id\" must be a string or an integer", !silent);
  }

  if (method_v != nullptr) {
    if (!method_v->is_string()) {
      return malformed(id, ErrorCode::kInvalidRequest,
                       "Invalid Request: \"method\" must be a string", !silent);
    }
    std::string method(method_v->get_string());
    json::object params;
    if (json::value* p = obj.if_contains("params")) {
      if (!p->is_object()) {
        return malformed(id, ErrorCode::kInvalidRequest,
                         "Invalid Request: \"params\" must be an object", !silent);
      }
      params = std::move(p->get_object());
    }
    if (id) return Request{std::move(*id), std::move(method), std::move(params)};
    return Notification{std::move(method), std::move(params)};
  }

  // No method: a response to a request of ours.
  const json::value* result = obj.if_contains("result");
  const json::value* error = obj.if_contains("error");
  if (result != nullptr && error == nullptr && id) {
    return Response{std::move(*id), *result};
  }
  if (error != nullptr && result == nullptr && error->is_object()) {
    ErrorResponse er;
    er.id = id;
    const json::object& eo = error->get_object();
    if (const auto* c = eo.if_contains("code"); c != nullptr && c->is_int64()) {
      er.error.code = static_cast<int>(c->get_int64());
    }
    if (const auto* m = eo.if_contains("message"); m != nullptr && m->is_string()) {
      er.error.message = std::string(m->get_string());
    }
    if (const auto* d = eo.if_contains("data")) er.error.data = *d;
    return er;
  }
  return malformed(id, ErrorCode::kInvalidRequest,
                   "Invalid Request: neither a request, a notification nor a response", !silent);
}

namespace {

// A request (with `id`) or a notification (without).
json::value message_json(const RequestId* id, const std::string& method, const json::object& params) {
  json::object o;
  o["jsonrpc"] = "2.0";
  if (id != nullptr) o["id"] = id->to_json();
  o["method"] = method;
  if (!params.empty()) o["params"] = params;
  return o;
}

}  // namespace

json::value to_json(const Request& m) { return message_json(&m.id, m.method, m.params); }

json::value to_json(const Notification& m) { return message_json(nullptr, m.method, m.params); }

json::value to_json(const Response& m) {
  json::object o;
  o["jsonrpc"] = "2.0";
  o["id"] = m.id.to_json();
  o["result"] = m.result;
  return o;
}

json::value to_json(const ErrorResponse& m) {
  json::object o;
  o["jsonrpc"] = "2.0";
  o["id"] = m.id ? m.id->to_json() : json::value(nullptr);
  json::object e;
  e["code"] = m.error.code;
  e["message"] = m.error.message;
  if (m.error.data) e["data"] = *m.error.data;
  o["error"] = std::move(e);
  return o;
}

ErrorResponse make_error(std::optional<RequestId> id, ErrorCode code, std::string message,
                         std::optional<json::value> data) {
  return ErrorResponse{std::move(id), Error(code, std::move(message), std::move(data))};
}

}  // namespace keel::mcp::jsonrpc

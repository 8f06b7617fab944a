// keel/mcp/jsonrpc.h — JSON-RPC 2.0 messages as named types, and the codec.
//
// One raw message (a stdio line, an HTTP body) is parsed into exactly one of
// Request / Notification / Response / ErrorResponse, or into a
// MalformedMessage that carries the JSON-RPC error to answer with (and whether
// to answer at all: a broken notification is never answered). Nothing past
// this file looks at "jsonrpc", raw ids or the shape of the envelope.
//
// MCP narrows JSON-RPC: ids are strings or integers (never null), params are
// always an object, batches are not allowed (removed in 2025-06-18).
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace keel::mcp::jsonrpc {

// Every code keel emits. -32020..-32022 are the 2026-07-28 spec-reserved ones;
// -32002 and -32042 exist only in the legacy era.
enum class ErrorCode : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  kResourceNotFound = -32002,        // legacy only
  kUrlElicitationRequired = -32042,  // 2025-11-25 only
  kHeaderMismatch = -32020,
  kMissingRequiredClientCapability = -32021,
  kUnsupportedProtocolVersion = -32022,
};

// A request id: an integer or a string, kept exactly as the peer sent it.
class RequestId {
 public:
  RequestId() = default;  // integer 0
  RequestId(std::int64_t n) : num_(n) {}                                  // NOLINT
  RequestId(std::string s) : is_string_(true), str_(std::move(s)) {}      // NOLINT
  RequestId(const char* s) : is_string_(true), str_(s) {}                 // NOLINT

  // Nullopt unless `v` is a string or an integer representable as int64.
  static std::optional<RequestId> from_json(const boost::json::value& v);
  boost::json::value to_json() const;

  bool is_string() const { return is_string_; }
  // For logs: 42 or "abc" (quoted).
  std::string to_string() const;

  auto operator<=>(const RequestId&) const = default;
  bool operator==(const RequestId&) const = default;

  std::size_t hash() const;

 private:
  // (Not a std::variant: GCC 12 reports false maybe-uninitialized errors
  // for variant<int64_t, string> copies under -fsanitize.)
  bool is_string_ = false;
  std::int64_t num_ = 0;
  std::string str_;
};

struct RequestIdHash {
  std::size_t operator()(const RequestId& id) const { return id.hash(); }
};

struct Error {
  int code = static_cast<int>(ErrorCode::kInternalError);
  std::string message;
  std::optional<boost::json::value> data;

  Error() = default;
  Error(ErrorCode c, std::string msg, std::optional<boost::json::value> d = std::nullopt)
      : code(static_cast<int>(c)), message(std::move(msg)), data(std::move(d)) {}
};

struct Request {
  RequestId id;
  std::string method;
  boost::json::object params;  // {} when absent
};

struct Notification {
  std::string method;
  boost::json::object params;  // {} when absent
};

struct Response {
  RequestId id;
  boost::json::value result;
};

struct ErrorResponse {
  std::optional<RequestId> id;  // nullopt = JSON null (parse errors)
  Error error;
};

// Input that is not a valid MCP JSON-RPC message.
struct MalformedMessage {
  std::optional<RequestId> id;  // the id, when it could be recovered
  Error error;
  bool reply = true;  // false when it looked like a notification
};

using Incoming = std::variant<Request, Notification, Response, ErrorResponse, MalformedMessage>;

struct ParseLimits {
  std::size_t max_message_bytes = 4 << 20;
  std::size_t max_depth = 64;
};

// Parses one message. Never throws (std::bad_alloc aside).
//  - invalid JSON, invalid UTF-8, nesting deeper than max_depth, non-finite
//    numbers                                                   → -32700, id null
//  - larger than max_message_bytes, a batch (array), not an object,
//    "jsonrpc" not "2.0", a bad id, a non-string method,
//    non-object params, neither request nor response           → -32600
Incoming parse_message(std::string_view raw, const ParseLimits& limits = {});

boost::json::value to_json(const Request& m);
boost::json::value to_json(const Notification& m);
boost::json::value to_json(const Response& m);
boost::json::value to_json(const ErrorResponse& m);

// Convenience constructors for outgoing errors.
ErrorResponse make_error(std::optional<RequestId> id, ErrorCode code, std::string message,
                         std::optional<boost::json::value> data = std::nullopt);

}  // namespace keel::mcp::jsonrpc

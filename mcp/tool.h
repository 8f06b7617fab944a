// keel/mcp/tool.h — what a tool is to the MCP layer, and the registry of them.
//
// The MCP layer knows nothing of leases or memory: tools/ registers Tool
// values here and the server lists and calls them. A handler receives the
// arguments already validated against the tool's inputSchema (a failed
// validation never reaches it: the server answers with an isError result
// naming the offending field), plus a CallContext describing the caller.
//
// Thread safety: a ToolRegistry is filled once at start-up and then only read;
// reading it from many threads is safe. Handlers are called concurrently from
// the server's worker threads and must be thread-safe themselves.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "mcp/logging.h"

namespace keel::mcp {

// Behaviour hints shown to clients (MCP ToolAnnotations; untrusted by them).
struct ToolAnnotations {
  bool read_only = false;
  bool destructive = false;  // meaningful only when !read_only
  bool idempotent = false;
  bool open_world = false;
};

// The caller of one request, as far as the MCP layer can tell.
struct CallContext {
  std::string protocol_version;  // negotiated (legacy) or per-request (modern)
  bool modern = false;           // true: 2026-07-28 era request
  std::string client_name;       // clientInfo.name, "" when not sent
  std::string client_version;
  boost::json::object client_capabilities;
  // Stable for the life of a connection/session (stdio: the process; HTTP
  // legacy: the Mcp-Session-Id; modern: empty). Scopes session-tier memory.
  std::string session_id;
  // Set by an authenticating transport (HTTP bearer token): the principal the
  // token names. Empty on stdio.
  std::string auth_subject;

  // Sends notifications/progress when the request carried a progressToken;
  // a no-op otherwise. `progress` must increase from call to call.
  std::function<void(double progress, std::optional<double> total,
                     std::string_view message)>
      progress;
  // True once the client cancelled the request (notifications/cancelled, or
  // the HTTP stream closed). Long waits poll it.
  std::function<bool()> cancelled;

  // --- additions (mcp layer) ---
  // The JSON-RPC id of the request, rendered for logs (42 or "abc").
  std::string request_id;
  // Sends notifications/message {level, logger?, data} when the client asked
  // for that level (legacy: logging/setLevel; modern: _meta logLevel); a
  // no-op otherwise and after the request finished. `logger` may be empty.
  std::function<void(LogLevel level, std::string_view logger, const boost::json::value& data)>
      log;
  // Modern era multi round-trip (MRTR) retries: params.inputResponses and
  // params.requestState of the request (null / "" when absent).
  boost::json::value input_responses{};
  std::string request_state{};
  // Legacy era only: sends a request to the client (elicitation/create,
  // sampling/createMessage, roots/list) on this request's stream and blocks
  // for its answer. Returns the result; throws ProtocolError carrying the
  // client's error, std::runtime_error when the call was cancelled, the
  // transport is closing, it timed out, or in the modern era (use an
  // InputRequiredResult there).
  std::function<boost::json::value(const std::string& method, boost::json::object params)>
      request{};
};

// A tool failure the model can act on: becomes an isError:true result whose
// text is "<code>: <message>" and whose _meta["dev.keel/error"] is
// {"code":code,"message":message}. It carries no structuredContent, which
// would have to match the tool's outputSchema.
class ToolError : public std::runtime_error {
 public:
  ToolError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// Thrown by a handler to answer the request with a JSON-RPC error instead of
// a result (e.g. -32021 for a missing client capability, -32602 for a
// tampered MRTR requestState).
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(int code, const std::string& message, boost::json::value data = nullptr)
      : std::runtime_error(message), code_(code), data_(std::move(data)) {}
  int code() const { return code_; }
  const boost::json::value& data() const { return data_; }

 private:
  int code_;
  boost::json::value data_;
};

struct ToolResult {
  boost::json::value structured{};  // conforms to the tool's outputSchema
  std::string text{};               // text rendering; "" = serialized `structured`
  // When set, the complete result as-is (content blocks other than text, or a
  // modern InputRequiredResult with resultType "input_required").
  std::optional<boost::json::object> raw{};
};

using ToolHandler =
    std::function<ToolResult(const boost::json::object& arguments, const CallContext& ctx)>;

// (Members carry `{}` initializers so that designated initializers may omit
// any of them under -Wextra.)
struct Tool {
  std::string name{};         // SEP-986: [A-Za-z0-9_.-]{1,128}, unique
  std::string title{};
  std::string description{};
  boost::json::object input_schema{};   // JSON Schema (2020-12 subset, see schema.h)
  boost::json::object output_schema{};  // JSON Schema of structuredContent
  ToolAnnotations annotations{};
  ToolHandler handler{};
};

// Rewrites a tool as it is added (ToolRegistry::set_decorator): wraps its
// handler, adds to its schemas. Must return a tool with the same name.
using ToolDecorator = std::function<Tool(Tool)>;

class ToolRegistry {
 public:
  // Throws std::invalid_argument for a bad or duplicate name.
  void add(Tool tool);
  // Every tool added from now on goes through `decorator` first (the domain
  // layer wraps cross-cutting behaviour around its tools there, e.g. tools/
  // tool_idempotency.h's request_id). Replaces an earlier one; null: none.
  // Set before the tools are added, at start-up.
  void set_decorator(ToolDecorator decorator) { decorator_ = std::move(decorator); }
  // In registration order (deterministic tools/list order).
  const std::vector<Tool>& tools() const { return tools_; }
  const Tool* find(std::string_view name) const;

 private:
  std::vector<Tool> tools_;
  ToolDecorator decorator_{};
};

}  // namespace keel::mcp

// keel/mcp/observer.h — watching the requests an McpServer answers (metrics, traces).
//
// McpServer::set_observer(o) makes every Connection made afterwards call
// o->begin(info) when a request arrives (stdio and both HTTP eras; before it is
// dispatched, on the receiving thread) and RequestScope::end(result) once its
// response is sent (or it ended without one: cancelled; a tools/call whose work
// the transport dropped unrun ends when its Connection is destroyed). mcp/ knows
// only this interface; observe/ implements it (the layer rule). Without an
// observer a request costs one pointer test.
//
// Ownership: RequestInfo's views and pointers are borrowed for the duration of
// begin() only; copy what must outlive it. The scope begin() returns is owned
// by the server until end() is called on it (exactly once) and then destroyed.
//
// Thread safety: begin() and end() are called from many threads at once (the
// transport's readers and workers); an implementation must be thread-safe,
// must not throw, and must not block (it sits on every request's path).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>

#include <boost/json/object.hpp>

namespace keel::mcp {

// One request as it arrives.
struct RequestInfo {
  std::string_view method;            // "tools/call", "initialize", ...
  // What the request is about: the tool name (tools/call), the uri
  // (resources/read, resources/subscribe|unsubscribe), the prompt name
  // (prompts/get); "" for the others or when params lacks it. Sent by the
  // client: not checked against anything (a tools/call of an unknown tool
  // names it here and ends with -32602).
  std::string_view target;
  std::string_view session_id;        // CallContext::session_id; "" when none
  std::string_view protocol_version;  // the era's version; "" before initialize
  std::string_view request_id;        // the JSON-RPC id as text (RequestId::to_string)
  const boost::json::object* meta = nullptr;  // params._meta, when an object
  bool modern = false;                // served in the 2026-07-28 era
};

// How a request ended.
struct RequestResult {
  enum class Outcome {
    kOk,         // a result, and for tools/call one with isError false
    kToolError,  // tools/call answered with isError: true (tool_error_code says why)
    kError,      // a JSON-RPC error response (error_code)
    kCancelled,  // no response: cancelled by the client, or the work was dropped
  };
  Outcome outcome = Outcome::kOk;
  int error_code = 0;                  // kError: the JSON-RPC code (-32602, ...)
  std::string_view tool_error_code;    // kToolError: "CONFLICT", "INVALID_ARGUMENT", ...
  std::chrono::nanoseconds duration{0};  // from begin() to the response
};

std::string_view to_string(RequestResult::Outcome outcome);  // "ok", "tool_error", "error", "cancelled"

class RequestScope {
 public:
  virtual ~RequestScope() = default;
  virtual void end(const RequestResult& result) noexcept = 0;
};

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  // May return nullptr: nothing to report at the end.
  virtual std::unique_ptr<RequestScope> begin(const RequestInfo& info) noexcept = 0;
};

// Legacy-era HTTP sessions open in this process now (every HttpServer's),
// for a gauge. Thread-safe; a session that expired counts until it is next
// looked up or the server stops.
std::size_t http_sessions_open();

}  // namespace keel::mcp

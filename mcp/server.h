// keel/mcp/server.h — the MCP server: both protocol eras over one dispatcher.
//
// McpServer turns one incoming JSON-RPC message into at most one response,
// plus any notifications the handling emits (progress, logs). It is
// transport-agnostic: a transport (stdio now, Streamable HTTP next) owns a
// Connection per client connection/session and feeds it messages.
//
// Era selection (the dual-era rule, reference §2): `initialize` selects the
// 2025-11-25 ("legacy") era for the connection; a request whose params._meta
// carries "io.modelcontextprotocol/protocolVersion" is served statelessly in
// the 2026-07-28 ("modern") era, whatever the connection negotiated.
//
// Thread safety: McpServer is immutable after construction and may be shared by
// any number of connections and threads. A Connection is safe to call from
// several threads at once (a transport may handle requests concurrently so that
// notifications/cancelled can reach a request still running).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "mcp/jsonrpc.h"
#include "mcp/server_options.h"
#include "mcp/tool.h"

namespace keel::mcp {

class Connection;
class RequestObserver;
class ResourceRegistry;
class PromptRegistry;
class SubscriptionHub;

// Optional features beyond tools; a capability is declared only when its
// registry is set and not empty.
struct ServerFeatures {
  std::shared_ptr<const ResourceRegistry> resources;
  std::shared_ptr<const PromptRegistry> prompts;  // (+ completion/complete)
  // list_changed fan-out to subscriptions/listen streams (HTTP); optional.
  std::shared_ptr<SubscriptionHub> subscriptions;
};

class McpServer {
 public:
  McpServer(ServerOptions options, std::shared_ptr<const ToolRegistry> tools);
  McpServer(ServerOptions options, std::shared_ptr<const ToolRegistry> tools,
            ServerFeatures features);
  ~McpServer();
  McpServer(const McpServer&) = delete;
  McpServer& operator=(const McpServer&) = delete;

  const ServerOptions& options() const;
  const ToolRegistry& tools() const;
  const ServerFeatures& features() const;

  // Every request of the connections made after this call is reported to
  // `observer` (mcp/observer.h); nullptr stops that for later connections.
  // Not thread-safe: call it before the transport starts (before connect()).
  // The server keeps the observer alive as long as itself.
  void set_observer(std::shared_ptr<RequestObserver> observer);

  // A new connection. The McpServer must outlive it and any work it handed
  // out (Connection::Received::work). `send` writes one complete JSON-RPC message (a
  // notification or a response) to the peer; the connection serializes calls
  // to it. `session_id` becomes CallContext::session_id.
  std::unique_ptr<Connection> connect(
      std::function<void(const boost::json::value&)> send,
      std::string session_id, std::string auth_subject = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  friend class Connection;
};

class Connection {
 public:
  ~Connection();
  // Handles one raw message (one line of stdio, one HTTP body). Responses and
  // notifications go out through `send`; nothing is sent for a notification or
  // a cancelled request. Never throws; malformed input is answered with the
  // JSON-RPC error the spec names.
  void handle(std::string_view raw);

  // --- additions (mcp layer): the two-phase form transports use ---
  //
  // receive() does the cheap part on the calling (reading) thread: parse,
  // classify, answer errors, notifications (notifications/cancelled!), ping,
  // initialize, server/discover, tools/list. A tools/call is registered as
  // in flight (so a cancellation can already reach it) and returned as
  // `work`, which the transport runs on any thread; it sends the response.
  // handle(raw) is receive(raw) followed by running the work inline.
  //
  // `sink`, when set, receives everything this message produces (response,
  // progress and log notifications) instead of the connection's `send` --
  // e.g. the SSE stream of one HTTP POST. Calls are serialized either way.
  // The work must be run (or dropped) while the sink can still be called.
  using Sink = std::function<void(const boost::json::value&)>;
  struct Received {
    enum class Kind { kRequest, kNotification, kResponse, kInvalid };
    Kind kind = Kind::kInvalid;
    bool modern = false;             // a request served in the 2026-07-28 era
    std::function<void()> work;      // non-empty: run it to finish the request
  };
  Received receive(std::string_view raw, Sink sink = nullptr);
  Received receive(jsonrpc::Incoming message, Sink sink = nullptr);

  // Cancels an in-flight request as notifications/cancelled does (its
  // response is suppressed). HTTP modern era: the response stream closed.
  // Returns false for an unknown or finished id.
  bool cancel(const jsonrpc::RequestId& id);
  // The transport is going away (stdio EOF): every in-flight and later
  // request sees CallContext::cancelled() == true so waits end promptly;
  // their responses are still sent, best effort.
  void shutdown();
  // Requests accepted and not yet finished.
  std::size_t in_flight() const;

  // The negotiated legacy protocol version, once initialize succeeded.
  std::optional<std::string> legacy_version() const;

 private:
  friend class McpServer;
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads newline-delimited JSON-RPC from `in_fd`, handles each message on a pool
// of `workers` threads, writes responses to `out_fd` (one message per line, and
// nothing else). Returns 0 after end of input once in-flight requests finished.
struct StdioOptions {
  int workers = 4;
  std::string session_id;  // CallContext::session_id for this process
};
int serve_stdio(McpServer& server, int in_fd, int out_fd,
                const StdioOptions& options);

}  // namespace keel::mcp

// keel/observe/request_observer.cpp — metrics and spans per MCP request
// (request_observer.h).
#include "observe/request_observer.h"

#include <chrono>
#include <string>

#include <boost/json/string.hpp>

namespace keel::observe {

namespace {

constexpr std::string_view kMethods[] = {
    "initialize",          "ping",
    "tools/list",          "tools/call",
    "resources/list",      "resources/templates/list",
    "resources/read",      "resources/subscribe",
    "resources/unsubscribe", "prompts/list",
    "prompts/get",         "completion/complete",
    "logging/setLevel",    "server/discover",
    "subscriptions/listen",
};

std::int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view meta_string(const boost::json::object* meta, std::string_view key) {
  if (meta == nullptr) return {};
  const boost::json::value* v = meta->if_contains(key);
  if (v == nullptr || !v->is_string()) return {};
  return std::string_view(v->get_string().data(), v->get_string().size());
}

class Scope final : public mcp::RequestScope {
 public:
  Scope(std::shared_ptr<Telemetry> t, std::string_view method, const mcp::Tool* tool)
      : t_(std::move(t)), method_(method), tool_(tool) {}

  void end(const mcp::RequestResult& r) noexcept override {
    try {
      const double seconds = std::chrono::duration<double>(r.duration).count();
      const std::string_view outcome = mcp::to_string(r.outcome);
      t_->mcp_requests.with({method_, outcome}).inc();
      t_->mcp_duration.with({method_}).observe(seconds);
      if (tool_ != nullptr) {
        t_->tool_calls.with({tool_->name, outcome}).inc();
        t_->tool_duration.with({tool_->name}).observe(seconds);
      }
      if (span_) finish_span(r);
    } catch (...) {  // (bad_alloc) a metric lost, never the request
    }
  }

  // Starts the request's span (tracing on).
  void start_span(const mcp::RequestInfo& info, const std::string& transport) {
    span_ = std::make_unique<Span>();
    Span& s = *span_;
    s.kind = SpanKind::kServer;
    s.start_unix_ns = unix_now_ns();
    s.span_id = new_span_id();
    const auto parent = parse_traceparent(meta_string(info.meta, "traceparent"));
    if (parent) {
      s.trace_id = parent->trace_id;
      s.parent_id = parent->parent_id;
      if (auto state = valid_tracestate(meta_string(info.meta, "tracestate"))) {
        s.trace_state = std::move(*state);
      }
    } else {
      s.trace_id = new_trace_id();
    }
    s.name = std::string(info.method);
    if (!info.target.empty()) s.name += " " + std::string(info.target);
    auto& a = s.attributes;
    a.push_back({"mcp.method.name", std::string(info.method)});
    if (!info.session_id.empty()) a.push_back({"mcp.session.id", std::string(info.session_id)});
    if (!info.protocol_version.empty()) {
      a.push_back({"mcp.protocol.version", std::string(info.protocol_version)});
    }
    a.push_back({"jsonrpc.request.id", std::string(info.request_id)});
    a.push_back({"network.transport", transport});
    if (info.method == "tools/call") {
      a.push_back({"gen_ai.operation.name", std::string("execute_tool")});
      if (!info.target.empty()) a.push_back({"gen_ai.tool.name", std::string(info.target)});
    } else if (info.method.rfind("resources/", 0) == 0 && !info.target.empty()) {
      a.push_back({"mcp.resource.uri", std::string(info.target)});
    } else if (info.method == "prompts/get" && !info.target.empty()) {
      a.push_back({"gen_ai.prompt.name", std::string(info.target)});
    }
  }

 private:
  void finish_span(const mcp::RequestResult& r) {
    Span& s = *span_;
    s.end_unix_ns = unix_now_ns();
    using Outcome = mcp::RequestResult::Outcome;
    if (r.outcome == Outcome::kError) {
      s.error = true;
      s.attributes.push_back({"error.type", std::to_string(r.error_code)});
      s.attributes.push_back({"rpc.response.status_code", std::to_string(r.error_code)});
      s.status_message = "JSON-RPC error " + std::to_string(r.error_code);
    } else if (r.outcome == Outcome::kToolError) {
      s.error = true;
      s.attributes.push_back({"error.type", std::string(r.tool_error_code)});
      s.status_message = std::string(r.tool_error_code);
    } else if (r.outcome == Outcome::kCancelled) {
      s.error = true;
      s.attributes.push_back({"error.type", std::string("cancelled")});
      s.status_message = "cancelled";
    }
    if (SpanExporter* e = t_->exporter()) e->submit(std::move(s));
    span_.reset();
  }

  std::shared_ptr<Telemetry> t_;
  std::string_view method_;   // static (kMethods or "other")
  const mcp::Tool* tool_;     // a tools/call of a known tool, else null
  std::unique_ptr<Span> span_;
};

class Observer final : public mcp::RequestObserver {
 public:
  Observer(std::shared_ptr<Telemetry> t, const mcp::ToolRegistry* tools)
      : t_(std::move(t)), tools_(tools) {}

  std::unique_ptr<mcp::RequestScope> begin(const mcp::RequestInfo& info) noexcept override {
    try {
      const mcp::Tool* tool = nullptr;
      if (tools_ != nullptr && info.method == "tools/call") tool = tools_->find(info.target);
      auto scope = std::make_unique<Scope>(t_, method_label(info.method), tool);
      if (t_->tracing()) scope->start_span(info, t_->transport());
      return scope;
    } catch (...) {
      return nullptr;
    }
  }

 private:
  std::shared_ptr<Telemetry> t_;
  const mcp::ToolRegistry* tools_;
};

}  // namespace

std::string_view method_label(std::string_view method) {
  for (std::string_view m : kMethods) {
    if (m == method) return m;
  }
  return "other";
}

std::shared_ptr<mcp::RequestObserver> make_request_observer(std::shared_ptr<Telemetry> telemetry,
                                                            const mcp::ToolRegistry* tools) {
  return std::make_shared<Observer>(std::move(telemetry), tools);
}

}  // namespace keel::observe

// keel/mcp/http_stateless.cpp — the 2026-07-28 era over HTTP: every POST
// stands alone (params._meta says who asks and how), its headers must agree
// with its body, it runs on a fresh Connection; subscriptions/listen keeps an
// SSE stream of list_changed notifications.
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "mcp/era.h"
#include "mcp/http_parts.h"
#include "mcp/subscriptions.h"

namespace keel::mcp::http_detail {

namespace json = boost::json;
using jsonrpc::Error;
using jsonrpc::ErrorCode;
using jsonrpc::RequestId;

void StatelessRequests::post(const HttpRequest& req, const std::shared_ptr<Responder>& r,
                           jsonrpc::Incoming msg, const std::string& subject, bool json_ok,
                           bool sse_ok) {
  auto* q = std::get_if<jsonrpc::Request>(&msg);
  auto* n = std::get_if<jsonrpc::Notification>(&msg);
  const std::string& method = q ? q->method : n->method;
  const json::object& params = q ? q->params : n->params;
  std::optional<RequestId> id;
  if (q) id = q->id;
  // The header must name the body's version (-32020) before that version
  // is judged (-32022).
  std::string version;
  if (const auto* meta = params.if_contains("_meta"); meta != nullptr && meta->is_object()) {
    if (const auto* v = meta->get_object().if_contains(kMetaProtocolVersion);
        v != nullptr && v->is_string()) {
      version = std::string(v->get_string());
    }
  }
  // -32020: a header the body contradicts, or a required one missing.
  auto mismatch = [&](const std::string& name, const std::string& body_value) {
    fail(req, *r, bhttp::status::bad_request, ErrorCode::kHeaderMismatch,
         "Header mismatch: " + name + " header value '" + header(req, name) +
             "' does not match body value '" + body_value + "'",
         id);
  };
  auto missing = [&](const std::string& what) {
    fail(req, *r, bhttp::status::bad_request, ErrorCode::kHeaderMismatch,
         "Header mismatch: " + what, id);
  };
  const std::string pv = header(req, "MCP-Protocol-Version");
  if (pv != version) {
    if (pv.empty()) {
      missing("MCP-Protocol-Version header required");
    } else {
      mismatch("MCP-Protocol-Version", version);
    }
    return;
  }
  auto era = read_modern_meta(params);
  if (auto* err = std::get_if<Error>(&era)) {
    r->respond(make(req, bhttp::status::bad_request,
                    json::serialize(jsonrpc::to_json(jsonrpc::ErrorResponse{id, std::move(*err)}))));
    return;
  }
  const bool has_method_header = has_header(req, "Mcp-Method");
  if (has_method_header && header(req, "Mcp-Method") != method) {
    mismatch("Mcp-Method", method);
    return;
  }
  const char* name_key = nullptr;
  if (method == "tools/call" || method == "prompts/get") name_key = "name";
  if (method == "resources/read") name_key = "uri";
  if (name_key != nullptr) {
    const json::value* v = params.if_contains(name_key);
    const std::string body = v != nullptr && v->is_string() ? std::string(v->get_string()) : "";
    if (has_header(req, "Mcp-Name")) {
      if (header(req, "Mcp-Name") != body) {
        mismatch("Mcp-Name", body);
        return;
      }
    } else if (has_method_header) {
      missing("Mcp-Name header required for " + method);
      return;
    }
  }
  if (!q) {
    r->respond(make(req, bhttp::status::accepted, ""));
    return;
  }
  if (method == "initialize") {  // removed in the modern era
    fail(req, *r, bhttp::status::not_found, ErrorCode::kMethodNotFound,
         "Method not found: initialize", id);
    return;
  }
  if (method == "subscriptions/listen") {
    listen(*q, r, sse_ok);
    return;
  }
  const bool notifies = method == "tools/call" &&
                        (progress_token(params).has_value() ||
                         std::get<RequestEra>(era).log_level.has_value());
  const bool sse = sse_ok && (notifies || !json_ok);
  std::shared_ptr<Connection> conn = server.connect(nullptr, std::string(), subject);
  {
    std::lock_guard lock(modern_mu_);
    if (modern_conns_.size() >= 256) {
      std::erase_if(modern_conns_, [](const auto& w) { return w.expired(); });
    }
    modern_conns_.push_back(conn);
  }
  std::shared_ptr<EventStream> stream;
  if (sse) stream = std::make_shared<EventStream>("m", false);
  core.run(req, r, conn.get(), std::move(msg), stream, /*modern=*/true, conn, Headers{});
}

void StatelessRequests::listen(const jsonrpc::Request& q, const std::shared_ptr<Responder>& r, bool sse_ok) {
  if (!sse_ok) {
    HttpResponse res{bhttp::status::not_acceptable, 11};
    res.set(bhttp::field::content_type, "application/json");
    res.body() = error_body(q.id, ErrorCode::kInvalidRequest,
                            "Not Acceptable: subscriptions/listen needs text/event-stream");
    res.keep_alive(false);
    res.prepare_payload();
    r->respond(std::move(res));
    return;
  }
  json::object asked;
  if (const auto* n = q.params.if_contains("notifications"); n != nullptr && n->is_object()) {
    asked = n->get_object();
  }
  json::object honoured;
  std::vector<std::string> kinds;
  for (const auto& [key, kind] : {std::pair<const char*, const char*>{"toolsListChanged", "tools"},
                                  {"promptsListChanged", "prompts"},
                                  {"resourcesListChanged", "resources"}}) {
    const json::value* v = asked.if_contains(key);
    if (v != nullptr && v->is_bool() && v->get_bool()) {
      honoured[key] = true;
      kinds.emplace_back(kind);
    }
  }
  const json::value sub_id = q.id.to_json();
  auto tagged = [sub_id](std::string method, json::object params) {
    json::object meta;
    meta[kMetaSubscriptionId] = sub_id;
    params["_meta"] = std::move(meta);
    return jsonrpc::to_json(jsonrpc::Notification{std::move(method), std::move(params)});
  };
  auto stream = std::make_shared<EventStream>("l", false);
  r->start_sse(Headers{});
  stream->attach(r, std::nullopt);
  stream->push(tagged("notifications/subscriptions/acknowledged",
                      json::object{{"notifications", honoured}}));
  auto hub = server.features().subscriptions;
  {
    std::lock_guard lock(listen_mu_);
    std::erase_if(listens_, [](const ListenStream& l) { return l.stream->ended(); });
    listens_.push_back(ListenStream{stream, 0, q.id});
  }
  if (!hub) return;  // (nothing ever changes: keep the stream open)
  const std::uint64_t listener = hub->add([stream, kinds, tagged](std::string_view kind) {
    for (const auto& k : kinds) {
      if (k == kind) {
        stream->push(tagged("notifications/" + k + "/list_changed", json::object()));
      }
    }
  });
  std::weak_ptr<SubscriptionHub> weak_hub = hub;
  r->on_peer_closed([weak_hub, listener, stream] {
    if (auto h = weak_hub.lock()) h->remove(listener);
    stream->end();
  });
  std::lock_guard lock(listen_mu_);
  for (auto& l : listens_) {
    if (l.stream == stream) l.listener = listener;
  }
}

void StatelessRequests::shutdown() {
  std::vector<std::weak_ptr<Connection>> modern;
  {
    std::lock_guard lock(modern_mu_);
    modern.swap(modern_conns_);
  }
  for (auto& w : modern) {
    if (auto c = w.lock()) c->shutdown();
  }
  // Listen streams end gracefully: a complete result tagged with their id.
  std::vector<ListenStream> listens;
  {
    std::lock_guard lock(listen_mu_);
    listens.swap(listens_);
  }
  auto hub = server.features().subscriptions;
  for (auto& l : listens) {
    if (hub && l.listener != 0) hub->remove(l.listener);
    json::object result;
    result["resultType"] = "complete";
    result["_meta"] = json::object{{kMetaSubscriptionId, l.id.to_json()}};
    l.stream->push(jsonrpc::to_json(jsonrpc::Response{l.id, json::value(std::move(result))}));
    l.stream->end();
  }
}

}  // namespace keel::mcp::http_detail

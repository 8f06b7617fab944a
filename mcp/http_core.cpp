// keel/mcp/http_core.cpp — what the parts of the HTTP handler share: small
// helpers, responses, the worker pool and its drain count, and run(), which
// answers one request on a Connection as JSON or as an SSE stream.
#include <algorithm>
#include <cctype>
#include <chrono>

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "mcp/http_parts.h"

namespace keel::mcp::http_detail {

namespace json = boost::json;
using jsonrpc::Error;
using jsonrpc::ErrorCode;
using jsonrpc::RequestId;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::string header(const HttpRequest& req, std::string_view name) {
  auto it = req.find(boost::beast::string_view(name.data(), name.size()));
  if (it == req.end()) return {};
  return trim(std::string_view(it->value().data(), it->value().size()));
}

bool has_header(const HttpRequest& req, std::string_view name) {
  return req.find(boost::beast::string_view(name.data(), name.size())) != req.end();
}

bool accepts(const std::string& accept, std::string_view type) {
  std::string a = lower(accept);
  if (a.find(type) != std::string::npos) return true;
  if (a.find("*/*") != std::string::npos) return true;
  const std::string major = std::string(type.substr(0, type.find('/'))) + "/*";
  return a.find(major) != std::string::npos;
}

std::string error_body(std::optional<RequestId> id, ErrorCode code, std::string message,
                       std::optional<json::value> data) {
  return json::serialize(
      jsonrpc::to_json(jsonrpc::make_error(std::move(id), code, std::move(message), std::move(data))));
}

bool is_response_message(const json::value& m) {
  const json::object* o = m.if_object();
  return o != nullptr && (o->contains("result") || o->contains("error")) && !o->contains("method");
}

std::optional<int> error_code_of(const json::value& m) {
  const json::object* o = m.if_object();
  if (o == nullptr) return std::nullopt;
  const json::value* e = o->if_contains("error");
  if (e == nullptr || !e->is_object()) return std::nullopt;
  const json::value* c = e->get_object().if_contains("code");
  if (c == nullptr || !c->is_int64()) return std::nullopt;
  return static_cast<int>(c->get_int64());
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

HttpCore::HttpCore(McpServer& s, const HttpOptions& o)
    : server(s), options(o), workers(static_cast<std::size_t>(std::max(1, o.workers))) {}

HttpResponse HttpCore::make(const HttpRequest& req, bhttp::status status, std::string body,
                  std::string_view content_type) {
  HttpResponse res{status, req.version()};
  res.set(bhttp::field::server, "keel");
  if (!body.empty()) res.set(bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive() && !draining);
  res.prepare_payload();
  return res;
}

void HttpCore::fail(const HttpRequest& req, Responder& r, bhttp::status status, ErrorCode code,
          std::string message, std::optional<RequestId> id,
          std::optional<json::value> data) {
  spdlog::debug("mcp http: {} {} → {} {}", std::string(req.method_string()),
                std::string(req.target()), static_cast<int>(status), message);
  r.respond(make(req, status, error_body(std::move(id), code, std::move(message), std::move(data))));
}

void HttpCore::begin_work() {
  std::lock_guard lock(idle_mu);
  ++pending;
}
void HttpCore::end_work() {
  std::lock_guard lock(idle_mu);
  if (--pending == 0) idle_cv.notify_all();
}

void HttpCore::wait_idle() {
  std::unique_lock lock(idle_mu);
  idle_cv.wait(lock, [this] { return pending == 0; });
}

// Runs one request on `conn`; answers JSON (stream null) or SSE. `keep`
// keeps the connection's owner alive until the answer is out.
void HttpCore::run(const HttpRequest& req, const std::shared_ptr<Responder>& r, Connection* conn,
         jsonrpc::Incoming msg, const std::shared_ptr<EventStream>& stream, bool modern_era,
         std::shared_ptr<void> keep, Headers headers) {
  const RequestId id = std::get<jsonrpc::Request>(msg).id;
  if (!stream) {
    struct Collected {
      std::mutex mu;
      std::optional<json::value> response;
    };
    auto collected = std::make_shared<Collected>();
    Connection::Received got = conn->receive(std::move(msg), [collected](const json::value& m) {
      if (!is_response_message(m)) return;  // JSON mode: nowhere to put notifications
      std::lock_guard lock(collected->mu);
      collected->response = m;
    });
    auto answer = [this, collected, r, modern_era, headers,
                   version = req.version(), keep_alive = req.keep_alive()]() {
      std::optional<json::value> response;
      {
        std::lock_guard lock(collected->mu);
        response = collected->response;
      }
      HttpResponse res{bhttp::status::accepted, version};
      res.set(bhttp::field::server, "keel");
      for (const auto& [k, v] : headers) res.set(k, v);
      if (response) {
        res.result(bhttp::status::ok);
        if (modern_era) {
          if (auto code = error_code_of(*response)) {
            if (*code == static_cast<int>(ErrorCode::kMethodNotFound)) {
              res.result(bhttp::status::not_found);
            } else if (*code == static_cast<int>(ErrorCode::kHeaderMismatch) ||
                       *code == static_cast<int>(ErrorCode::kMissingRequiredClientCapability) ||
                       *code == static_cast<int>(ErrorCode::kUnsupportedProtocolVersion)) {
              res.result(bhttp::status::bad_request);
            }
          }
        }
        res.set(bhttp::field::content_type, "application/json");
        res.body() = json::serialize(*response);
      }
      res.keep_alive(keep_alive && !draining);
      res.prepare_payload();
      r->respond(std::move(res));
    };
    if (got.work) {
      begin_work();
      boost::asio::post(workers, [this, work = std::move(got.work), answer, keep]() mutable {
        work();
        answer();
        end_work();
      });
    } else {
      answer();
    }
    return;
  }
  // SSE.
  r->start_sse(headers);
  if (modern_era) {
    r->on_peer_closed([conn, id, keep] { conn->cancel(id); });
  } else {
    std::weak_ptr<EventStream> weak = stream;
    Responder* raw = r.get();
    r->on_peer_closed([weak, raw] {
      if (auto s = weak.lock()) s->detach(raw);  // legacy: not a cancellation
    });
  }
  stream->attach(r, std::nullopt);
  Connection::Received got =
      conn->receive(std::move(msg), [stream](const json::value& m) { stream->push(m); });
  if (got.work) {
    begin_work();
    boost::asio::post(workers, [this, work = std::move(got.work), stream, keep]() mutable {
      work();
      stream->end();
      end_work();
    });
  } else {
    stream->end();
  }
}

}  // namespace keel::mcp::http_detail

// keel/mcp/http_guard.cpp — the checks every HTTP request passes before
// anything MCP: Host (DNS rebinding), Origin (cross-origin), the bearer token
// of a principal, and 503 once the server drains.
#include <algorithm>
#include <cctype>

#include "mcp/http_parts.h"

namespace keel::mcp::http_detail {

using jsonrpc::ErrorCode;

namespace {

// "localhost", "127.0.0.1", "[::1]" with an optional ":port".
bool is_loopback_hostport(std::string_view hp) {
  std::string h = lower(hp);
  std::string host;
  if (!h.empty() && h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string::npos) return false;
    host = h.substr(0, close + 1);
    std::string rest = h.substr(close + 1);
    if (!rest.empty() && (rest[0] != ':' || rest.size() == 1)) return false;
  } else {
    auto colon = h.find(':');
    host = h.substr(0, colon);
    if (colon != std::string::npos) {
      std::string port = h.substr(colon + 1);
      if (port.empty() || !std::all_of(port.begin(), port.end(), ::isdigit)) return false;
    }
  }
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

bool is_loopback_origin(std::string_view origin) {
  std::string o = lower(origin);
  std::string_view rest;
  if (o.rfind("http://", 0) == 0) {
    rest = std::string_view(o).substr(7);
  } else if (o.rfind("https://", 0) == 0) {
    rest = std::string_view(o).substr(8);
  } else {
    return false;
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  return is_loopback_hostport(rest);
}

// `origin` is exactly the request's own origin, http://<Host> (a page served
// by this server calling it back; the Host check above already vouched for
// the name on a loopback listener, and a token protects a non-loopback one).
bool is_own_origin(std::string_view origin, std::string_view host) {
  if (host.empty()) return false;
  std::string o = lower(origin);
  if (!o.empty() && o.back() == '/') o.pop_back();
  return o == "http://" + lower(host);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

}  // namespace

bool RequestGuard::check_origin(const HttpRequest& req, Responder& r) {
  if (!has_header(req, "Host")) {
    fail(req, r, bhttp::status::bad_request, ErrorCode::kInvalidRequest, "Bad Request: Host header required");
    return false;
  }
  if (loopback_listener_ && !is_loopback_hostport(header(req, "Host"))) {
    fail(req, r, bhttp::status::forbidden, ErrorCode::kInvalidRequest,
         "Forbidden: Host must be a loopback name");
    return false;
  }
  if (has_header(req, "Origin") && !is_loopback_origin(header(req, "Origin")) &&
      !is_own_origin(header(req, "Origin"), header(req, "Host"))) {
    fail(req, r, bhttp::status::forbidden, ErrorCode::kInvalidRequest, "Forbidden: invalid Origin");
    return false;
  }
  return true;
}

namespace {

// The bearer token of the Authorization header, "" when none.
std::string bearer_token(const HttpRequest& req) {
  const std::string auth = header(req, "Authorization");
  if (auth.size() > 7 && lower(auth.substr(0, 7)) == "bearer ") return trim(auth.substr(7));
  return {};
}

// The principal whose token is `token`, if any. Compares against every
// token so timing does not tell which matched.
std::optional<std::string> principal_of(const std::vector<HttpPrincipal>& principals,
                                        const std::string& token) {
  std::optional<std::string> subject;
  for (const auto& p : principals) {
    if (constant_time_equal(token, p.token) && !token.empty() && !subject) subject = p.name;
  }
  return subject;
}

}  // namespace

std::string RequestGuard::token_subject(const HttpRequest& req) const {
  if (options.principals.empty()) return {};
  return principal_of(options.principals, bearer_token(req)).value_or("");
}

std::optional<std::string> RequestGuard::authenticate(const HttpRequest& req, Responder& r) {
  if (options.principals.empty()) return std::string();
  const std::string token = bearer_token(req);
  std::optional<std::string> subject = principal_of(options.principals, token);
  if (!subject) {
    HttpResponse res = make(req, bhttp::status::unauthorized,
                            error_body(std::nullopt, ErrorCode::kInvalidRequest,
                                       token.empty() ? "Unauthorized: bearer token required"
                                                     : "Unauthorized: invalid token"));
    res.set(bhttp::field::www_authenticate,
            token.empty() ? "Bearer realm=\"keel\""
                          : "Bearer realm=\"keel\", error=\"invalid_token\"");
    r.respond(std::move(res));
    return std::nullopt;
  }
  return subject;
}

bool RequestGuard::check_draining(const HttpRequest& req, Responder& r) {
  if (!core.draining) return true;
  fail(req, r, bhttp::status::service_unavailable, ErrorCode::kInternalError,
       "Service Unavailable: shutting down");
  return false;
}

}  // namespace keel::mcp::http_detail

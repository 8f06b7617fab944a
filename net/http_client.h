// keel/net/http_client.h — one outbound HTTP/1.1 request, bounded in time: the webhooks of
// notify/ and the OTLP export of observe/.
//
// http:// and https:// (OpenSSL; the peer's certificate is verified against the system's
// CA store and the URL's host name). A request is one connection (no pooling: deliveries
// are rare and small), ends by its deadline whatever the peer does (a peer that hangs
// costs the caller timeout_ms, never more — a host name is looked up on a detached thread
// waited for until the deadline, so a hanging DNS counts too), follows no redirect (a 3xx
// is the response), and never throws for network failures: they come back in
// HttpClientResponse::error.
//
// Thread safety: post() may be called from many threads at once; each call owns its
// own io_context and socket.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace keel::net {

struct Url {
  std::string scheme;  // "http" | "https"
  std::string host;    // without brackets for IPv6
  std::string port;    // "80", "443" or as written
  std::string target;  // path and query, "/" when empty
};
// Parses an absolute http(s) URL. Throws std::invalid_argument naming what is wrong
// (no scheme, another scheme, no host, a bad port, user-info, a fragment).
Url parse_url(const std::string& text);
// True for localhost, 127.0.0.0/8 and ::1.
bool is_loopback_host(const std::string& host);

struct HttpClientRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type = "application/json";
  std::string body;
  std::chrono::milliseconds timeout{5000};  // connect to last byte of the response
  std::size_t max_response_bytes = 64 * 1024;  // the rest is not read
};

struct HttpClientResponse {
  unsigned status = 0;  // 0: no response (see error)
  std::string body;
  std::string error;    // "" when a response arrived; else what went wrong
  bool ok() const { return error.empty() && status >= 200 && status < 300; }
};

HttpClientResponse http_request(const HttpClientRequest& request);

}  // namespace keel::net

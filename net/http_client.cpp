// keel/net/http_client.cpp — http_request() on Boost.Beast, with OpenSSL for https.
#include "net/http_client.h"

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/dynamic_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/version.hpp>
#include <openssl/ssl.h>

namespace keel::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

using Clock = std::chrono::steady_clock;

// Runs the io_context until `done` or the deadline; the stream's own
// expiry (tcp_stream::expires_at) cancels what is pending at the deadline.
void run_until(asio::io_context& io, const bool& done) {
  io.restart();
  while (!done && io.run_one() > 0) {
  }
}

template <class Stream>
HttpClientResponse exchange(asio::io_context& io, Stream& stream, beast::tcp_stream& lowest,
                            Clock::time_point deadline, const HttpClientRequest& in,
                            const Url& url) {
  HttpClientResponse out;
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(in.method), url.target, 11};
  if (req.method() == bhttp::verb::unknown) {
    out.error = "unknown HTTP method " + in.method;
    return out;
  }
  const bool default_port = (url.scheme == "http" && url.port == "80") ||
                            (url.scheme == "https" && url.port == "443");
  const std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  req.set(bhttp::field::host, default_port ? host : host + ":" + url.port);
  req.set(bhttp::field::user_agent, "keel");
  if (!in.body.empty() || req.method() == bhttp::verb::post) {
    req.set(bhttp::field::content_type, in.content_type);
  }
  for (const auto& [k, v] : in.headers) req.set(k, v);
  req.body() = in.body;
  req.keep_alive(false);
  req.prepare_payload();

  bool done = false;
  beast::error_code ec;
  lowest.expires_at(deadline);
  bhttp::async_write(stream, req, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  run_until(io, done);
  if (ec || !done) {
    out.error = ec == beast::error::timeout || !done ? "timed out sending the request"
                                                     : "sending the request: " + ec.message();
    return out;
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(in.max_response_bytes);
  done = false;
  lowest.expires_at(deadline);
  bhttp::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) {
    ec = e;
    done = true;
  });
  run_until(io, done);
  if (ec == bhttp::error::body_limit && parser.is_header_done()) {
    out.status = parser.get().result_int();  // a body too long to keep: the status stands
    return out;
  }
  if (ec || !done) {
    out.error = ec == beast::error::timeout || !done ? "timed out waiting for the response"
                                                     : "reading the response: " + ec.message();
    return out;
  }
  out.status = parser.get().result_int();
  out.body = std::move(parser.get().body());
  return out;
}

// Resolves url.host: a literal address at once; a name by getaddrinfo on a detached
// thread, waited for until `deadline` (a hanging lookup cannot be cancelled, and asio's
// resolver would make the io_context's destructor wait for it). Returns "" or the error.
std::string resolve(const Url& url, Clock::time_point deadline, std::vector<tcp::endpoint>& out) {
  boost::system::error_code ec;
  const auto port = static_cast<unsigned short>(std::stoi(url.port));
  const auto literal = asio::ip::make_address(url.host, ec);
  if (!ec) {
    out = {tcp::endpoint(literal, port)};
    return {};
  }
  struct Lookup {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    boost::system::error_code ec;
    std::vector<tcp::endpoint> endpoints;
  };
  auto lookup = std::make_shared<Lookup>();
  std::thread([lookup, host = url.host, service = url.port] {
    asio::io_context io;
    tcp::resolver resolver(io);
    boost::system::error_code e;
    const auto results = resolver.resolve(host, service, e);
    std::lock_guard lock(lookup->mu);
    lookup->ec = e;
    for (const auto& r : results) lookup->endpoints.push_back(r.endpoint());
    lookup->done = true;
    lookup->cv.notify_all();
  }).detach();
  std::unique_lock lock(lookup->mu);
  if (!lookup->cv.wait_until(lock, deadline, [&] { return lookup->done; })) {
    return "timed out resolving " + url.host;
  }
  if (lookup->ec || lookup->endpoints.empty()) {
    return "cannot resolve " + url.host + ": " +
           (lookup->ec ? lookup->ec.message() : std::string("no address"));
  }
  out = std::move(lookup->endpoints);
  return {};
}

}  // namespace

Url parse_url(const std::string& text) {
  Url u;
  const auto sep = text.find("://");
  if (sep == std::string::npos) throw std::invalid_argument("not an absolute URL (no scheme)");
  u.scheme = lower(text.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https") {
    throw std::invalid_argument("the scheme must be http or https, not " + u.scheme);
  }
  std::string rest = text.substr(sep + 3);
  if (rest.find('#') != std::string::npos) throw std::invalid_argument("a URL with a #fragment");
  const auto slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (u.target.front() == '?') u.target = "/" + u.target;
  if (authority.find('@') != std::string::npos) {
    throw std::invalid_argument("user-info in a URL is not supported (use headers)");
  }
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) throw std::invalid_argument("an unclosed [ in the host");
    u.host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw std::invalid_argument("junk after the host");
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) throw std::invalid_argument("no host");
  u.host = lower(u.host);
  if (port.empty()) port = u.scheme == "https" ? "443" : "80";
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
      std::stoi(port) < 1 || std::stoi(port) > 65535) {
    throw std::invalid_argument("a bad port: " + port);
  }
  u.port = port;
  return u;
}

bool is_loopback_host(const std::string& host) {
  if (lower(host) == "localhost") return true;
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  return !ec && addr.is_loopback();
}

HttpClientResponse http_request(const HttpClientRequest& in) {
  HttpClientResponse out;
  Url url;
  try {
    url = parse_url(in.url);
  } catch (const std::invalid_argument& e) {
    out.error = std::string("bad URL: ") + e.what();
    return out;
  }
  const Clock::time_point deadline = Clock::now() + in.timeout;
  try {
    asio::io_context io;
    std::vector<tcp::endpoint> endpoints;
    if (std::string err = resolve(url, deadline, endpoints); !err.empty()) {
      out.error = std::move(err);
      return out;
    }
    bool done = false;
    beast::error_code ec;
    beast::tcp_stream tcp_stream(io);
    tcp_stream.expires_at(deadline);
    tcp_stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    run_until(io, done);
    if (ec || !done) {
      out.error = ec == beast::error::timeout || !done
                      ? "timed out connecting to " + url.host + ":" + url.port
                      : "cannot connect to " + url.host + ":" + url.port + ": " + ec.message();
      return out;
    }
    if (url.scheme == "http") return exchange(io, tcp_stream, tcp_stream, deadline, in, url);

    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_default_verify_paths();
    ctx.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp_stream), ctx);
    if (!SSL_set_tlsext_host_name(tls.native_handle(), url.host.c_str())) {
      out.error = "TLS: cannot set the server name";
      return out;
    }
    tls.set_verify_callback(asio::ssl::host_name_verification(url.host));
    done = false;
    beast::get_lowest_layer(tls).expires_at(deadline);
    tls.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
    run_until(io, done);
    if (ec || !done) {
      out.error = ec == beast::error::timeout || !done ? "timed out in the TLS handshake"
                                                       : "TLS handshake: " + ec.message();
      return out;
    }
    return exchange(io, tls, beast::get_lowest_layer(tls), deadline, in, url);
  } catch (const std::exception& e) {
    out.error = e.what();
    return out;
  }
}

}  // namespace keel::net

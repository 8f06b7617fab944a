// tests/unit/net_http_client_test.cpp — net::http_request against a raw-socket server in the
// test: status and body both ways, headers, a peer that never answers (bounded by the
// timeout), refused and non-TLS ports for https, redirects not followed, bad URLs; and
// parse_url / is_loopback_host.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "net/http_client.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using keel::net::http_request;
using keel::net::HttpClientRequest;
using keel::net::parse_url;

// Accepts one connection on 127.0.0.1; reads the request (head and Content-Length body)
// into `request`, then writes `response` and closes — or, with an empty `response`, holds
// the connection open without a word until destroyed. With `read_first` false it answers at
// once, whatever the peer sends (a peer speaking TLS).
class OneShotServer {
 public:
  explicit OneShotServer(std::string response, bool read_first = true)
      : response_(std::move(response)), read_first_(read_first) {
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    stop_ = true;
    if (!accepted_) {
      // Unblock accept() with a connection of our own.
      try {
        asio::io_context io;
        tcp::socket s(io);
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
      } catch (...) {
      }
    }
    thread_.join();
  }
  std::string url(const std::string& scheme = "http", const std::string& path = "/hook") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string request() const {
    while (!read_done_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return request_;
  }

 private:
  void serve() {
    tcp::socket sock(io_);
    boost::system::error_code ec;
    acceptor_.accept(sock, ec);
    accepted_ = true;
    if (ec || stop_) {
      read_done_ = true;
      return;
    }
    if (!read_first_) {
      read_done_ = true;
      asio::write(sock, asio::buffer(response_), ec);
      sock.shutdown(tcp::socket::shutdown_both, ec);
      return;
    }
    asio::streambuf buf;
    asio::read_until(sock, buf, "\r\n\r\n", ec);
    std::string data(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
    const auto cl = data.find("Content-Length: ");
    const auto head_end = data.find("\r\n\r\n");
    if (!ec && cl != std::string::npos && head_end != std::string::npos) {
      const std::size_t want = std::stoul(data.substr(cl + 16)) + head_end + 4;
      while (data.size() < want && !ec) {
        char chunk[4096];
        const std::size_t n = sock.read_some(asio::buffer(chunk), ec);
        data.append(chunk, n);
      }
    }
    request_ = data;
    read_done_ = true;
    if (response_.empty()) {
      while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return;
    }
    asio::write(sock, asio::buffer(response_), ec);
    sock.shutdown(tcp::socket::shutdown_both, ec);
  }

  std::string response_;
  bool read_first_ = true;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> accepted_{false};
  std::atomic<bool> read_done_{false};
  std::string request_;
  std::thread thread_;
};

// A port on 127.0.0.1 that nothing listens on (bound, then closed).
unsigned short closed_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

HttpClientRequest post(const std::string& url, std::string body = R"({"x":1})") {
  HttpClientRequest r;
  r.url = url;
  r.body = std::move(body);
  r.timeout = std::chrono::milliseconds(3000);
  return r;
}

}  // namespace

TEST_CASE("http_request: a POST and the server's status and body") {
  OneShotServer server("HTTP/1.1 201 Created\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  HttpClientRequest req = post(server.url("http", "/hook?a=1"));
  req.headers = {{"X-Keel-Event", "escalation.filed"}};
  const auto resp = http_request(req);
  CHECK(resp.error == "");
  CHECK(resp.status == 201);
  CHECK(resp.body == "hello");
  CHECK(resp.ok());
  const std::string got = server.request();
  CHECK(got.rfind("POST /hook?a=1 HTTP/1.1\r\n", 0) == 0);
  CHECK(got.find("X-Keel-Event: escalation.filed\r\n") != std::string::npos);
  CHECK(got.find("Content-Type: application/json\r\n") != std::string::npos);
  CHECK(got.find("Host: 127.0.0.1:") != std::string::npos);
  CHECK(got.substr(got.size() - 7) == R"({"x":1})");
}

TEST_CASE("http_request: an error status is a response, not ok()") {
  OneShotServer server("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\ndown");
  const auto resp = http_request(post(server.url()));
  CHECK(resp.error == "");
  CHECK(resp.status == 500);
  CHECK(resp.body == "down");
  CHECK_FALSE(resp.ok());
}

TEST_CASE("http_request: a redirect is not followed") {
  OneShotServer server(
      "HTTP/1.1 302 Found\r\nLocation: http://example.invalid/\r\nContent-Length: 0\r\n\r\n");
  const auto resp = http_request(post(server.url()));
  CHECK(resp.status == 302);
  CHECK_FALSE(resp.ok());
}

TEST_CASE("http_request: a body beyond max_response_bytes is dropped, the status stands") {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
  HttpClientRequest req = post(server.url());
  req.max_response_bytes = 10;
  const auto resp = http_request(req);
  CHECK(resp.status == 200);
  CHECK(resp.body.empty());
}

TEST_CASE("http_request: a server that accepts and never answers costs the timeout, no more") {
  OneShotServer server("");  // holds the connection, silent
  HttpClientRequest req = post(server.url());
  req.timeout = std::chrono::milliseconds(400);
  const auto t0 = std::chrono::steady_clock::now();
  const auto resp = http_request(req);
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(resp.status == 0);
  CHECK(resp.error == "timed out waiting for the response");
  CHECK(took >= std::chrono::milliseconds(350));
  CHECK(took < std::chrono::milliseconds(3000));  // generous: a bound, not a speed
}

TEST_CASE("http_request: a refused connection fails cleanly, http and https") {
  const std::string port = std::to_string(closed_port());
  for (const std::string scheme : {"http", "https"}) {
    const auto resp = http_request(post(scheme + "://127.0.0.1:" + port + "/"));
    CHECK(resp.status == 0);
    CHECK(resp.error.rfind("cannot connect to 127.0.0.1:" + port, 0) == 0);
  }
}

TEST_CASE("http_request: https to a port that does not speak TLS fails the handshake cleanly") {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false);
  const auto resp = http_request(post(server.url("https")));
  CHECK(resp.status == 0);
  CHECK(resp.error.rfind("TLS handshake: ", 0) == 0);
}

TEST_CASE("http_request: https refuses a server whose certificate no CA vouches for") {
  // A self-signed certificate for 127.0.0.1, made here.
  EVP_PKEY* key = EVP_EC_gen("P-256");
  REQUIRE(key != nullptr);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
  asio::ssl::context server_ctx(asio::ssl::context::tls_server);
  REQUIRE(SSL_CTX_use_certificate(server_ctx.native_handle(), cert) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey(server_ctx.native_handle(), key) == 1);
  X509_free(cert);
  EVP_PKEY_free(key);

  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();
  std::atomic<bool> server_saw_hello{false};
  std::thread server([&] {
    tcp::socket sock(io);
    acceptor.accept(sock);
    asio::ssl::stream<tcp::socket> tls(std::move(sock), server_ctx);
    boost::system::error_code ec;
    tls.handshake(asio::ssl::stream_base::server, ec);  // fails: the client hangs up
    server_saw_hello = true;
  });
  const auto resp = http_request(post("https://127.0.0.1:" + std::to_string(port) + "/"));
  server.join();
  CHECK(server_saw_hello);
  CHECK(resp.status == 0);
  CHECK(resp.error.rfind("TLS handshake: ", 0) == 0);
  CHECK(resp.error.find("certificate verify failed") != std::string::npos);
}

TEST_CASE("http_request: a host name is resolved; one that does not resolve fails in time") {
  OneShotServer server("HTTP/1.1 204 No Content\r\n\r\n");
  const std::string port = server.url().substr(std::string("http://127.0.0.1:").size());
  const auto ok = http_request(post("http://localhost:" + port));
  CHECK(ok.error == "");
  CHECK(ok.status == 204);

  HttpClientRequest req = post("http://no-such-host.invalid/");
  req.timeout = std::chrono::milliseconds(1500);
  const auto t0 = std::chrono::steady_clock::now();
  const auto bad = http_request(req);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(5000));
  CHECK(bad.status == 0);
  const bool named = bad.error.rfind("cannot resolve no-such-host.invalid", 0) == 0 ||
                     bad.error == "timed out resolving no-such-host.invalid";
  CHECK(named);
}

TEST_CASE("http_request: bad URLs and methods are errors, never a connection") {
  CHECK(http_request(post("ftp://127.0.0.1/")).error.rfind("bad URL: the scheme", 0) == 0);
  CHECK(http_request(post("127.0.0.1:80/x")).error == "bad URL: not an absolute URL (no scheme)");
  CHECK(http_request(post("http:///x")).error == "bad URL: no host");
  CHECK(http_request(post("http://127.0.0.1:99999/")).error == "bad URL: a bad port: 99999");
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  HttpClientRequest req = post(server.url());
  req.method = "FROB";
  CHECK(http_request(req).error == "unknown HTTP method FROB");
}

TEST_CASE("parse_url: the parts of an http(s) URL, and what it refuses") {
  auto u = parse_url("HTTPS://Hooks.Example.com/services/T0?x=1");
  CHECK(u.scheme == "https");
  CHECK(u.host == "hooks.example.com");
  CHECK(u.port == "443");
  CHECK(u.target == "/services/T0?x=1");
  u = parse_url("http://[::1]:8080");
  CHECK(u.host == "::1");
  CHECK(u.port == "8080");
  CHECK(u.target == "/");
  u = parse_url("http://h?q");
  CHECK(u.port == "80");
  CHECK(u.target == "/?q");
  for (const char* bad : {"", "example.com", "mailto://x", "http://", "http://:80/",
                          "http://u:p@h/", "http://h/#frag", "http://h:0/", "http://h:x/",
                          "http://[::1/"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_url(bad), std::invalid_argument);
  }
}

TEST_CASE("is_loopback_host") {
  CHECK(keel::net::is_loopback_host("localhost"));
  CHECK(keel::net::is_loopback_host("LOCALHOST"));
  CHECK(keel::net::is_loopback_host("127.0.0.1"));
  CHECK(keel::net::is_loopback_host("127.8.9.10"));
  CHECK(keel::net::is_loopback_host("::1"));
  CHECK_FALSE(keel::net::is_loopback_host("10.0.0.1"));
  CHECK_FALSE(keel::net::is_loopback_host("example.com"));
  CHECK_FALSE(keel::net::is_loopback_host("localhost.example.com"));
}

// Streamable HTTP: extra routes beside /mcp (HTTP hooks, the escalation
// API) — what reaches them, what they answer, the checks before them, and
// what a failing route turns into.
#include <catch2/catch.hpp>

#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "mcp_test_util.h"

using namespace keel::mcp;
using namespace keel::mcp::testing;

namespace {

// What an extra route saw, for the route tests (routes run on worker threads).
struct RouteLog {
  std::mutex mu;
  std::vector<HttpRouteRequest> seen;
  void add(const HttpRouteRequest& r) {
    std::lock_guard lock(mu);
    seen.push_back(r);
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return seen.size();
  }
  HttpRouteRequest last() {
    std::lock_guard lock(mu);
    REQUIRE(!seen.empty());
    return seen.back();
  }
};

// Options with a "/hooks/" route that echoes what it got (201, text/plain)
// and a "/boom" route that throws.
HttpOptions route_options(RouteLog& log) {
  HttpOptions options;
  options.routes.emplace_back("/hooks/", [&log](const HttpRouteRequest& in) {
    log.add(in);
    HttpRouteResponse out;
    out.status = 201;
    out.content_type = "text/plain";
    out.body = in.method + " " + in.path + " ?" + in.query + " [" + in.auth_subject + "] " + in.body;
    return out;
  });
  options.routes.emplace_back("/boom", [&log](const HttpRouteRequest& in)
                                  -> HttpRouteResponse {
    log.add(in);
    if (in.query == "weird") throw 42;  // not a std::exception
    throw std::runtime_error("route failed on purpose");
  });
  options.routes.emplace_back("/bad-status", [&log](const HttpRouteRequest& in) {
    log.add(in);
    return HttpRouteResponse{.status = 1000, .content_type = "text/plain", .body = "?"};
  });
  return options;
}

Req route_req(const std::string& target, const std::string& body) {
  Req q;
  q.target = target;
  q.headers = {{"Host", "127.0.0.1"}, {"Content-Type", "application/x-test"}};
  q.body = body;
  return q;
}

}  // namespace

TEST_CASE("http: an extra route serves requests beside /mcp") {
  RouteLog log;
  HttpFixture f(route_options(log));

  SECTION("POST: method, path, query, content type and body reach the route; its answer is sent") {
    Reply r = f.send(route_req("/hooks/claude?event=PreToolUse", R"({"tool":"Edit"})"));
    CHECK(r.status == 201);
    CHECK(r.header("content-type") == "text/plain");
    CHECK(r.body == R"(POST /hooks/claude ?event=PreToolUse [] {"tool":"Edit"})");
    auto in = log.last();
    CHECK(in.content_type == "application/x-test");
    CHECK(in.auth_subject.empty());
  }
  SECTION("GET reaches the route too; an empty query stays empty") {
    Req q = route_req("/hooks/status", "");
    q.method = "GET";
    Reply r = f.send(q);
    CHECK(r.status == 201);
    CHECK(r.body == "GET /hooks/status ? [] ");
  }
  SECTION("paths outside every prefix and /mcp → 404, the route is not called") {
    for (std::string target : {"/hooks", "/hook/x", "/other", "/mcp/extra", "/"}) {
      CAPTURE(target);
      Reply r = f.send(route_req(target, "{}"));
      CHECK(r.status == 404);
    }
    CHECK(log.size() == 0);
  }
  SECTION("Origin and Host checks apply before the route") {
    Req q = route_req("/hooks/claude", "{}");
    q.headers["Origin"] = "http://evil.example.com";
    CHECK(f.send(q).status == 403);
    q.headers["Origin"] = "http://localhost:3000";
    CHECK(f.send(q).status == 201);
    q.headers.erase("Origin");
    q.headers["Host"] = "evil.example.com";
    CHECK(f.send(q).status == 403);
    CHECK(log.size() == 1);  // only the allowed Origin got through
  }
  SECTION("an exception in the route → 500, and the server keeps serving") {
    Reply r = f.send(route_req("/boom", "{}"));
    CHECK(r.status == 500);
    CHECK(error_code(r.body) == -32603);
    CHECK(r.body.find("on purpose") == std::string::npos);  // internals are logged, not sent
    r = f.send(route_req("/boom?weird", "{}"));
    CHECK(r.status == 500);
    r = f.send(route_req("/bad-status", "{}"));  // not an HTTP status
    CHECK(r.status == 500);
    CHECK(f.send(route_req("/hooks/after", "x")).status == 201);
    CHECK(log.size() == 4);
  }
  f.still_serving();
}

TEST_CASE("http: an extra route needs the bearer token and sees its principal") {
  RouteLog log;
  HttpOptions options = route_options(log);
  options.principals.push_back({"ci-bot", "0123456789abcdef-secret"});
  HttpFixture f(options);
  Req q = route_req("/hooks/claude", "{}");

  Reply r = f.send(q);
  CHECK(r.status == 401);
  CHECK(r.header("www-authenticate").rfind("Bearer", 0) == 0);
  q.headers["Authorization"] = "Bearer wrong-token";
  r = f.send(q);
  CHECK(r.status == 401);
  CHECK(r.header("www-authenticate").find("invalid_token") != std::string::npos);
  CHECK(log.size() == 0);

  q.headers["Authorization"] = "Bearer 0123456789abcdef-secret";
  r = f.send(q);
  CHECK(r.status == 201);
  CHECK(r.body == "POST /hooks/claude ? [ci-bot] {}");
  CHECK(log.last().auth_subject == "ci-bot");
}

namespace {

// Reads from `fd` until `needle` arrived (or the socket times out / closes).
std::string read_until(int fd, const std::string& needle, std::string& got) {
  char buf[4096];
  while (got.find(needle) == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

// The streams a streaming route opened, for the test thread to use.
struct Streams {
  std::mutex mu;
  std::vector<std::shared_ptr<HttpEventStream>> open;
  void add(std::shared_ptr<HttpEventStream> s) {
    std::lock_guard lock(mu);
    open.push_back(std::move(s));
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return open.size();
  }
  std::shared_ptr<HttpEventStream> at(std::size_t i) {
    std::lock_guard lock(mu);
    return open.at(i);
  }
  bool wait_for(std::size_t n) {
    for (int i = 0; i < 500 && size() < n; ++i) std::this_thread::sleep_for(10ms);
    return size() >= n;
  }
};

HttpOptions console_like_options(RouteLog& log, Streams& streams) {
  HttpOptions options;
  options.routes.emplace_back(HttpRouteSpec(
      "/", [&log](const HttpRouteRequest& in) {
        log.add(in);
        HttpRouteResponse out{.status = 200, .content_type = "text/html", .body = "<p>page</p>"};
        out.headers = {{"Set-Cookie", "a=1; HttpOnly"}, {"Set-Cookie", "b=2"},
                       {"Content-Security-Policy", "default-src 'self'"}};
        return out;
      },
      /*is_public=*/true, /*exact=*/true));
  options.routes.emplace_back(HttpRouteSpec(
      "/console/events", [&streams](const HttpRouteRequest&) {
        HttpRouteResponse out;
        out.headers = {{"X-Stream", "yes"}};
        out.stream = [&streams](std::shared_ptr<HttpEventStream> s) {
          s->send(": hello\n\n");
          streams.add(std::move(s));
        };
        return out;
      },
      /*is_public=*/true));
  options.routes.emplace_back("/private/", [&log](const HttpRouteRequest& in) {
    log.add(in);
    return HttpRouteResponse{.status = 200, .content_type = "text/plain", .body = "private"};
  });
  return options;
}

Req get_req(const std::string& target) {
  Req q;
  q.method = "GET";
  q.target = target;
  q.headers = {{"Host", "127.0.0.1"}};
  return q;
}

}  // namespace

TEST_CASE("http: a public route authenticates itself; headers go both ways") {
  RouteLog log;
  Streams streams;
  HttpOptions options = console_like_options(log, streams);
  options.principals.push_back({"alice", "alice-token-0123456789"});
  HttpFixture f(options);

  SECTION("no token: the public route is reached with no principal; a private one is 401") {
    Req q = get_req("/");
    q.headers["Cookie"] = "keel_console=abc";
    q.headers["X-Keel-CSRF"] = "tok";
    Reply r = f.send(q);
    CHECK(r.status == 200);
    CHECK(r.body == "<p>page</p>");
    CHECK(r.header("content-security-policy") == "default-src 'self'");
    auto in = log.last();
    CHECK(in.auth_subject.empty());
    CHECK(in.header("cookie") == "keel_console=abc");
    CHECK(in.header("X-KEEL-CSRF") == "tok");
    CHECK(in.has_header("host"));
    CHECK_FALSE(in.has_header("origin"));
    CHECK_FALSE(in.tls);
    CHECK(f.send(get_req("/private/x")).status == 401);
    CHECK(log.size() == 1);
  }
  SECTION("a valid token names its principal on a public route; a wrong one is not an error there") {
    Req q = get_req("/");
    q.headers["Authorization"] = "Bearer alice-token-0123456789";
    CHECK(f.send(q).status == 200);
    CHECK(log.last().auth_subject == "alice");
    q.headers["Authorization"] = "Bearer nope";
    CHECK(f.send(q).status == 200);
    CHECK(log.last().auth_subject.empty());
  }
  SECTION("a repeated response header is sent each time") {
    std::string got;
    const int fd = connect_loopback(f.http->port());
    REQUIRE(fd >= 0);
    std::string raw = render(get_req("/"));
    REQUIRE(::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(raw.size()));
    read_until(fd, "<p>page</p>", got);
    ::close(fd);
    CHECK(got.find("Set-Cookie: a=1; HttpOnly\r\n") != std::string::npos);
    CHECK(got.find("Set-Cookie: b=2\r\n") != std::string::npos);
  }
  SECTION("an exact route matches only its path; Host and Origin checks still apply") {
    CHECK(f.send(get_req("/other")).status == 404);
    Req q = get_req("/");
    q.headers["Origin"] = "http://evil.example.com";
    CHECK(f.send(q).status == 403);
    q.headers["Origin"] = "http://127.0.0.1";
    CHECK(f.send(q).status == 200);
    q.headers.erase("Origin");
    q.headers["Host"] = "evil.example.com";
    CHECK(f.send(q).status == 403);
    CHECK(log.size() == 1);
  }
}

TEST_CASE("http: on a non-loopback listener, an Origin equal to the request's own origin is accepted") {
  RouteLog log;
  Streams streams;
  HttpOptions options = console_like_options(log, streams);
  options.host = "0.0.0.0";
  options.principals.push_back({"alice", "alice-token-0123456789"});
  HttpFixture f(options);
  Req q = get_req("/private/x");
  q.headers["Authorization"] = "Bearer alice-token-0123456789";
  q.headers["Host"] = "keel.example:8080";
  q.headers["Origin"] = "http://keel.example:8080";
  CHECK(f.send(q).status == 200);
  q.headers["Origin"] = "http://KEEL.example:8080/";
  CHECK(f.send(q).status == 200);
  for (std::string origin : {"http://keel.example:8081", "http://evil.example", "https://keel.example:8080",
                             "http://keel.example:8080.evil.example", "null"}) {
    CAPTURE(origin);
    q.headers["Origin"] = origin;
    CHECK(f.send(q).status == 403);
  }
  CHECK(log.size() == 2);
}

TEST_CASE("http: a streaming route holds no worker, ends when the peer leaves or the server stops") {
  RouteLog log;
  Streams streams;
  HttpOptions options = console_like_options(log, streams);
  options.workers = 1;
  options.drain_timeout = std::chrono::milliseconds(60'000);
  HttpFixture f(options);

  // Three open streams on one worker thread. Each is opened only once the one
  // before it reached the route, so that streams.at(i) is the stream of fds[i]
  // (requests sent at once may reach the route in any order).
  std::vector<int> fds;
  for (std::size_t i = 0; i < 3; ++i) {
    const int fd = connect_loopback(f.http->port());
    REQUIRE(fd >= 0);
    std::string raw = render(get_req("/console/events"));
    REQUIRE(::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(raw.size()));
    fds.push_back(fd);
    REQUIRE(streams.wait_for(i + 1));
  }
  std::string head;
  read_until(fds[0], ": hello\n\n", head);
  CHECK(head.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(head.find("text/event-stream") != std::string::npos);
  CHECK(head.find("X-Stream: yes") != std::string::npos);

  // The worker is free: a plain route still answers.
  CHECK(f.send(get_req("/")).status == 200);

  // Sent from another thread, the event arrives.
  std::thread([&] { CHECK(streams.at(0)->send("event: state\ndata: {\"n\":1}\n\n")); }).join();
  std::string got;
  read_until(fds[0], "{\"n\":1}", got);
  CHECK(got.find("event: state\ndata: {\"n\":1}") != std::string::npos);

  // The peer leaves: the stream closes, sends are refused.
  ::close(fds[1]);
  bool closed = false;
  for (int i = 0; i < 500 && !(closed = streams.at(1)->closed()); ++i) std::this_thread::sleep_for(10ms);
  CHECK(closed);
  CHECK_FALSE(streams.at(1)->send("data: x\n\n"));

  // The route closes one: the client sees the end.
  streams.at(2)->close();
  std::string rest;
  read_until(fds[2], "0\r\n\r\n", rest);
  CHECK(rest.find("0\r\n\r\n") != std::string::npos);
  ::close(fds[2]);

  // stop() ends the remaining stream at once rather than draining for 60 s.
  const auto t0 = std::chrono::steady_clock::now();
  f.http->stop();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30));
  CHECK(streams.at(0)->closed());
  ::close(fds[0]);
}

TEST_CASE("http: an event stream whose client does not read is closed once 4 MB wait, others keep serving") {
  RouteLog log;
  Streams streams;
  HttpFixture f(console_like_options(log, streams));

  // A client that opens the stream and never reads (a small receive window,
  // so the kernel absorbs little of it).
  const int fd = connect_loopback(f.http->port(), /*rcvbuf=*/4096);
  REQUIRE(fd >= 0);
  const std::string raw = render(get_req("/console/events"));
  REQUIRE(::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(raw.size()));
  REQUIRE(streams.wait_for(1));
  auto stream = streams.at(0);

  // Snapshots of 64 KB, as the console would broadcast them, until the stream
  // refuses (at most 64 MB: far past the bound).
  const std::string snapshot = "event: state\ndata: " + std::string(64 * 1024, 'x') + "\n\n";
  std::size_t sent = 0;
  bool closed = false;
  for (int i = 0; i < 1024 && !(closed = stream->closed()); ++i) {
    if (stream->send(snapshot)) sent += snapshot.size();
    if (i % 16 == 15) std::this_thread::sleep_for(1ms);  // let the I/O thread keep up
  }
  for (int i = 0; i < 500 && !(closed = stream->closed()); ++i) std::this_thread::sleep_for(10ms);
  CHECK(closed);
  CHECK(sent < 32u * 1024 * 1024);
  CHECK_FALSE(stream->send(snapshot));

  // Other connections were never held up.
  CHECK(f.send(get_req("/")).status == 200);

  // The server closed the connection: the client, reading at last, gets what
  // was written before and then the end, not the whole backlog.
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      CHECK((n == 0 || errno == ECONNRESET));  // the end, not the receive timeout
      break;
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  CHECK(got.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(got.size() < sent);
}

TEST_CASE("http: HEAD on a route sends its headers without a body; the connection's next response parses") {
  RouteLog log;
  Streams streams;
  HttpFixture f(console_like_options(log, streams));

  for (std::string target : {"/", "/private/x", "/console/events", "/nowhere"}) {
    CAPTURE(target);
    const int fd = connect_loopback(f.http->port());
    REQUIRE(fd >= 0);
    // HEAD then GET on one keep-alive connection.
    const std::string raw = "HEAD " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" +
                            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    REQUIRE(::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(raw.size()));
    std::string got;
    read_until(fd, "<p>page</p>", got);
    ::close(fd);
    const auto head_end = got.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    const std::string head = got.substr(0, head_end + 2);
    const std::string next = got.substr(head_end + 4);
    CHECK(head.rfind("HTTP/1.1 ", 0) == 0);
    // The next bytes are the GET's response, whole.
    CHECK(next.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(next.find("Content-Length: 11\r\n") != std::string::npos);
    CHECK(next.size() >= 11);
    CHECK(next.substr(next.size() - 11) == "<p>page</p>");
    if (target == "/") CHECK(head.find("Content-Length: 11\r\n") != std::string::npos);
    if (target == "/console/events") CHECK(head.find("text/event-stream") != std::string::npos);
  }
  CHECK(streams.size() == 0);  // HEAD opened no event stream
}

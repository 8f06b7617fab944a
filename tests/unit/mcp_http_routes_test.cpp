// Streamable HTTP: extra routes beside /mcp (HTTP hooks, the escalation
// API) — what reaches them, what they answer, the checks before them, and
// what a failing route turns into.
#include <catch2/catch.hpp>

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

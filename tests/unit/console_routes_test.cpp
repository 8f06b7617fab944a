// The web console's routes (console/console_routes.h) called directly: the
// page and its security headers, sessions and login, and that a request
// without its CSRF token, from another origin or without the capability
// changes nothing; the actions act as the logged-in principal.
#include <catch2/catch.hpp>

#include <functional>
#include <mutex>
#include <thread>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "console/console_routes.h"
#include "console/console_sessions.h"
#include "console_test_util.h"
#include "state_test_util.h"

using namespace keel;
using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;

namespace {

constexpr const char* kHost = "127.0.0.1:7777";

struct ConsoleEnv {
  StoreEnv env;
  mcp::HttpOptions http;
  std::string host = kHost;  // the Host of the requests (the Origin of POSTs follows)

  // `tokens` empty: loopback without login. Else alice (escalation.resolve,
  // lease.force, agent.admin), bob (an agent's defaults), carol (lease only)
  // and dave (journal.read only) may log in.
  explicit ConsoleEnv(bool tokens, std::chrono::milliseconds pre_login_ttl = std::chrono::minutes(10)) {
    console::ConsoleConfig c;
    c.store = env.store.get();
    c.project = "/proj";
    c.pre_login_ttl = pre_login_ttl;
    if (tokens) {
      c.tokens = {{"alice", "alice-token-0123456789"},
                  {"bob", "bob-token-0123456789"},
                  {"carol", "carol-token-0123456789"},
                  {"dave", "dave-token-0123456789"}};
      c.principal_for = [](const std::string& name) -> std::optional<Principal> {
        auto caps = default_agent_capabilities();
        if (name == "alice") {
          // A person's token, not an agent's: what the console needs and no
          // more (no "lease": forcing a release implies it).
          caps = {"journal.read", "escalation.resolve", "lease.force", "agent.admin"};
        } else if (name == "carol") {
          caps = {"lease"};
        } else if (name == "dave") {
          caps = {"journal.read"};
        } else if (name != "bob") {
          return std::nullopt;
        }
        return Principal{name + "-agent", "/proj", "", caps};
      };
    }
    c.local = admin("console");
    console::add_console_routes(http, std::move(c));
  }

  mcp::HttpRouteResponse call(mcp::HttpRouteRequest in) {
    for (const auto& spec : http.routes) {
      if (spec.matches(in.path)) return spec.route(in);
    }
    FAIL("no route for " << in.path);
    return {};
  }

  mcp::HttpRouteResponse get(const std::string& path, const std::string& cookie = "") {
    mcp::HttpRouteRequest in;
    in.method = "GET";
    auto q = path.find('?');
    in.path = path.substr(0, q);
    if (q != std::string::npos) in.query = path.substr(q + 1);
    in.headers = {{"host", host}};
    if (!cookie.empty()) in.headers.emplace_back("cookie", cookie);
    return call(in);
  }

  // A POST as a page of this server sends it, with `drop` headers left out
  // and `replace` overriding.
  mcp::HttpRouteResponse post(const std::string& path, const std::string& body, const std::string& cookie,
                              const std::string& csrf,
                              std::vector<std::pair<std::string, std::string>> replace = {}) {
    mcp::HttpRouteRequest in;
    in.method = "POST";
    in.path = path;
    in.body = body;
    in.content_type = "application/json";
    std::map<std::string, std::string> h{{"host", host}, {"origin", "http://" + host}, {"cookie", cookie},
                                         {"x-keel-csrf", csrf}};
    for (auto& [k, v] : replace) {
      if (k == "content-type") {
        in.content_type = v;
      } else if (v.empty()) {
        h.erase(k);
      } else {
        h[k] = v;
      }
    }
    for (auto& [k, v] : h) in.headers.emplace_back(k, v);
    return call(in);
  }
};

std::string header_of(const mcp::HttpRouteResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

// "name=value" of the response's Set-Cookie for `name`.
std::string cookie_from(const mcp::HttpRouteResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == "Set-Cookie" && v.rfind(name + "=", 0) == 0) return v.substr(0, v.find(';'));
  }
  return "";
}

json::object body_of(const mcp::HttpRouteResponse& r) { return json::parse(r.body).as_object(); }

struct LoggedIn {
  std::string cookie;
  std::string csrf;
};

// A browser's login with `token` (on port 7777): its session cookie and CSRF token.
LoggedIn log_in(ConsoleEnv& c, const std::string& token) {
  auto pre = c.get("/console/api/session");
  auto r = c.post("/console/login", json::serialize(json::object{{"token", token}}),
                  cookie_from(pre, "keel_console_pre_7777"), std::string(body_of(pre).at("csrf").as_string()));
  REQUIRE(r.status == 200);
  return {cookie_from(r, "keel_console_7777"), std::string(body_of(r).at("csrf").as_string())};
}

std::int64_t file_escalation(Store& s, const std::string& who = "worker") {
  EscalationRequest req;
  req.reason = "<script>alert(1)</script> delete build/?";
  req.proposal = json::object{{"rm", "build/"}};
  auto r = s.request_escalation(agent(who), req);
  REQUIRE(r.escalation);
  return r.escalation->id;
}

}  // namespace

TEST_CASE("console: the page, its script and style carry the security headers") {
  ConsoleEnv c(false);
  auto page = c.get("/");
  CHECK(page.status == 200);
  CHECK(page.content_type.rfind("text/html", 0) == 0);
  CHECK(page.body.find("<") != std::string::npos);
  const std::string csp = header_of(page, "Content-Security-Policy");
  CHECK(csp.find("script-src 'self'") != std::string::npos);
  CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
  CHECK(csp.find("unsafe-inline") == std::string::npos);
  CHECK(header_of(page, "X-Content-Type-Options") == "nosniff");
  CHECK(header_of(page, "Referrer-Policy") == "no-referrer");
  CHECK(header_of(page, "Cache-Control") == "no-store");
  auto js = c.get("/console/app.js");
  CHECK(js.status == 200);
  CHECK(js.content_type.rfind("text/javascript", 0) == 0);
  CHECK(!js.body.empty());
  auto css = c.get("/console/app.css");
  CHECK(css.status == 200);
  CHECK(css.content_type.rfind("text/css", 0) == 0);
  CHECK(c.get("/console/nope.js").status == 404);
}

TEST_CASE("console: on loopback without tokens the browser is the local principal") {
  ConsoleEnv c(false);
  auto r = c.get("/console/api/session");
  REQUIRE(r.status == 200);
  auto s = body_of(r);
  CHECK(s.at("auth_required") == false);
  CHECK(s.at("authenticated") == true);
  CHECK(s.at("principal") == "local");
  CHECK(s.at("capabilities") == json::array{"escalation.resolve", "lease.force", "agent.admin"});
  CHECK(s.at("project") == "/proj");
  const std::string set = header_of(r, "Set-Cookie");
  CHECK(set.rfind("keel_console_7777=", 0) == 0);  // the port in its name
  CHECK(set.find("HttpOnly") != std::string::npos);
  CHECK(set.find("SameSite=Strict") != std::string::npos);
  CHECK(set.find("Secure") == std::string::npos);  // plain HTTP
  const std::string cookie = cookie_from(r, "keel_console_7777");
  const std::string csrf(s.at("csrf").as_string());
  CHECK(csrf.size() == 64);

  // The same cookie: the same session and token.
  auto again = body_of(c.get("/console/api/session", cookie));
  CHECK(again.at("csrf").as_string() == csrf);

  SECTION("resolve MODIFY with a proposal acts as the console's principal, journaled") {
    const auto id = file_escalation(*c.env.store);
    auto res = c.post("/console/api/escalations/" + std::to_string(id) + "/resolve",
                      R"({"decision":"MODIFY","proposal":{"rm":"build/tmp"}})", cookie, csrf);
    CHECK(res.status == 200);
    Escalation e = c.env.store->get_escalation(admin(), id);
    CHECK(e.resolved);
    CHECK(e.decision == EscalationDecision::kModify);
    CHECK(e.resolved_proposal == json::value(json::object{{"rm", "build/tmp"}}));
    CHECK(e.resolver == "console");
    CHECK(e.resolved_via == "console");
    auto rec = newest_record(*c.env.store, "RESOLVE");
    REQUIRE(rec);
    CHECK(rec->principal == "console");
    // A second decision: 409, the first stands.
    auto second = c.post("/console/api/escalations/" + std::to_string(id) + "/resolve", R"({"decision":"ABORT"})",
                         cookie, csrf);
    CHECK(second.status == 409);
    CHECK(c.env.store->get_escalation(admin(), id).decision == EscalationDecision::kModify);
    CHECK(c.post("/console/api/escalations/99999/resolve", R"({"decision":"ABORT"})", cookie, csrf).status == 404);
  }
  SECTION("refused POSTs change nothing") {
    const auto id = file_escalation(*c.env.store);
    const std::string path = "/console/api/escalations/" + std::to_string(id) + "/resolve";
    const std::string body = R"({"decision":"ABORT"})";
    const std::size_t records = journal_records(*c.env.store).size();
    struct Bad {
      const char* what;
      std::vector<std::pair<std::string, std::string>> replace;
      unsigned status;
      const char* error;
    };
    const std::vector<Bad> bad{
        {"no CSRF token", {{"x-keel-csrf", ""}}, 403, "bad CSRF token"},
        {"a wrong CSRF token", {{"x-keel-csrf", std::string(64, 'a')}}, 403, "bad CSRF token"},
        {"another origin", {{"origin", "http://evil.example"}}, 403, "cross-origin request"},
        {"another port", {{"origin", "http://127.0.0.1:7778"}}, 403, "cross-origin request"},
        {"no Origin, no Sec-Fetch-Site", {{"origin", ""}}, 403, "cross-origin request"},
        {"no Origin, cross-site fetch", {{"origin", ""}, {"sec-fetch-site", "cross-site"}}, 403,
         "cross-origin request"},
        {"no cookie", {{"cookie", ""}}, 401, "not logged in"},
        {"a form post", {{"content-type", "application/x-www-form-urlencoded"}}, 400, nullptr},
    };
    for (const auto& b : bad) {
      CAPTURE(b.what);
      auto r = c.post(path, body, cookie, csrf, b.replace);
      CHECK(r.status == b.status);
      if (b.error != nullptr) CHECK(body_of(r).at("error") == b.error);
    }
    CHECK(c.post(path, "not json", cookie, csrf).status == 400);
    CHECK(c.post(path, R"({"decision":"MAYBE"})", cookie, csrf).status == 400);
    CHECK(c.post(path, R"({"decision":"MODIFY"})", cookie, csrf).status == 400);
    CHECK_FALSE(c.env.store->get_escalation(admin(), id).resolved);
    CHECK(journal_records(*c.env.store).size() == records);
    // Same origin told by Sec-Fetch-Site alone is accepted.
    CHECK(c.post(path, body, cookie, csrf, {{"origin", ""}, {"sec-fetch-site", "same-origin"}}).status == 200);
  }
  SECTION("force release and suspend / resume") {
    c.env.store->acquire_lease(agent("worker"), acquire("deploy-slot"));
    auto r = c.post("/console/api/leases/release", R"({"name":"deploy-slot"})", cookie, csrf);
    CHECK(r.status == 200);
    CHECK(c.env.store->list_leases(admin()).empty());
    CHECK(c.post("/console/api/leases/release", R"({"name":"deploy-slot"})", cookie, csrf).status == 404);
    CHECK(c.post("/console/api/leases/release", R"({})", cookie, csrf).status == 400);

    c.env.store->register_agent(agent("worker"), AgentRegistration{});
    r = c.post("/console/api/agents/worker/suspend", R"({"reason":"runaway"})", cookie, csrf);
    CHECK(r.status == 200);
    CHECK(body_of(r).at("status") == "suspended");
    r = c.post("/console/api/agents/worker/resume", "{}", cookie, csrf);
    CHECK(r.status == 200);
    CHECK(body_of(r).at("status") == "active");
    CHECK(c.post("/console/api/agents/nobody/suspend", "{}", cookie, csrf).status == 404);
  }
  SECTION("reads: state, journal pages with their filters, the event stream") {
    c.env.store->acquire_lease(agent("worker"), acquire("deploy-slot"));
    auto state = c.get("/console/api/state");
    REQUIRE(state.status == 200);
    CHECK(body_of(state).at("leases").as_array().size() == 1);
    auto page = c.get("/console/api/journal?op=ACQUIRE&agent=worker&limit=5");
    REQUIRE(page.status == 200);
    auto records = body_of(page).at("records").as_array();
    REQUIRE(records.size() == 1);
    CHECK(records[0].at("subject") == "deploy-slot");
    CHECK(body_of(c.get("/console/api/journal?op=RELEASE")).at("records").as_array().empty());
    CHECK(c.get("/console/api/journal?limit=0").status == 400);
    CHECK(c.get("/console/api/journal?limit=abc").status == 400);
    CHECK(c.get("/console/api/journal?before_seq=-1").status == 400);
    auto events = c.get("/console/events");
    CHECK(events.status == 200);
    CHECK(events.stream);  // an event stream, not a body
    CHECK(c.get("/console/api/nothing").status == 404);
  }
  SECTION("logout ends the session") {
    auto r = c.post("/console/logout", "{}", cookie, csrf);
    CHECK(r.status == 204);
    CHECK(header_of(r, "Set-Cookie").find("Max-Age=0") != std::string::npos);
    CHECK(c.post("/console/api/leases/release", R"({"name":"x"})", cookie, csrf).status == 401);
  }
}

TEST_CASE("console: with tokens, a login decides who acts and what it may do") {
  ConsoleEnv c(true);
  // Before login: reads are refused, the session offers a pre-login token.
  CHECK(c.get("/console/api/state").status == 401);
  CHECK(c.get("/console/events").status == 401);
  auto r = c.get("/console/api/session");
  auto s = body_of(r);
  CHECK(s.at("auth_required") == true);
  CHECK(s.at("authenticated") == false);
  CHECK(s.at("principal").is_null());
  CHECK(s.at("capabilities").as_array().empty());
  const std::string pre = cookie_from(r, "keel_console_pre_7777");
  REQUIRE(!pre.empty());
  const std::string pre_csrf(s.at("csrf").as_string());

  // A wrong token, a login without the pre-login CSRF: refused.
  CHECK(c.post("/console/login", R"({"token":"guess"})", pre, pre_csrf).status == 401);
  CHECK(c.post("/console/login", R"({"token":"bob-token-0123456789"})", pre, "x").status == 403);
  CHECK(c.post("/console/login", R"({"token":"bob-token-0123456789"})", pre, pre_csrf,
               {{"origin", "http://evil.example"}})
            .status == 403);

  auto login = c.post("/console/login", R"({"token":"bob-token-0123456789"})", pre, pre_csrf);
  REQUIRE(login.status == 200);
  auto who = body_of(login);
  CHECK(who.at("authenticated") == true);
  CHECK(who.at("principal") == "bob");
  CHECK(who.at("capabilities").as_array().empty());
  const std::string cookie = cookie_from(login, "keel_console_7777");
  REQUIRE(!cookie.empty());
  const std::string csrf(who.at("csrf").as_string());
  CHECK(csrf != pre_csrf);
  // The pre-login session is spent: not a wrong token, the page starts over.
  r = c.post("/console/login", R"({"token":"bob-token-0123456789"})", pre, pre_csrf);
  CHECK(r.status == 403);
  CHECK(body_of(r).at("error") == "login session expired");

  CHECK(c.get("/console/api/state", cookie).status == 200);
  // bob lacks every console capability: refused, nothing changed.
  c.env.store->acquire_lease(agent("worker"), acquire("ci-runner"));
  const auto id = file_escalation(*c.env.store);
  const std::size_t records = journal_records(*c.env.store).size();
  r = c.post("/console/api/leases/release", R"({"name":"ci-runner"})", cookie, csrf);
  CHECK(r.status == 403);
  CHECK(body_of(r).at("error") == "missing capability lease.force");
  r = c.post("/console/api/escalations/" + std::to_string(id) + "/resolve", R"({"decision":"ABORT"})", cookie, csrf);
  CHECK(r.status == 403);
  CHECK(body_of(r).at("error") == "missing capability escalation.resolve");
  CHECK(c.post("/console/api/agents/worker/suspend", "{}", cookie, csrf).status == 403);
  CHECK(c.env.store->list_leases(admin()).size() == 1);
  CHECK_FALSE(c.env.store->get_escalation(admin(), id).resolved);
  CHECK(journal_records(*c.env.store).size() == records);

  // alice may: she acts as her agent.
  auto pre2 = c.get("/console/api/session");
  const std::string pre2_cookie = cookie_from(pre2, "keel_console_pre_7777");
  auto alice = c.post("/console/login", R"({"token":"alice-token-0123456789"})", pre2_cookie,
                      std::string(body_of(pre2).at("csrf").as_string()));
  REQUIRE(alice.status == 200);
  CHECK(body_of(alice).at("capabilities") == json::array{"escalation.resolve", "lease.force", "agent.admin"});
  r = c.post("/console/api/escalations/" + std::to_string(id) + "/resolve", R"({"decision":"OVERRIDE"})",
             cookie_from(alice, "keel_console_7777"), std::string(body_of(alice).at("csrf").as_string()));
  CHECK(r.status == 200);
  CHECK(c.env.store->get_escalation(admin(), id).resolver == "alice-agent");
  // lease.force without the plain lease capability still releases (forcing implies it).
  r = c.post("/console/api/leases/release", R"({"name":"ci-runner"})", cookie_from(alice, "keel_console_7777"),
             std::string(body_of(alice).at("csrf").as_string()));
  CHECK(r.status == 200);
  CHECK(c.env.store->list_leases(admin()).empty());
  // bob's cookie does not carry alice's token.
  CHECK(c.post("/console/api/escalations/" + std::to_string(id) + "/resolve", R"({"decision":"OVERRIDE"})",
               cookie, std::string(body_of(alice).at("csrf").as_string()))
            .status == 403);
}

TEST_CASE("console: sessions expire and are bounded") {
  console::SessionTable t(std::chrono::milliseconds(60'000), std::chrono::milliseconds(1), 3);
  auto pre = t.create(false, "");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK_FALSE(t.find(pre.id, false));
  auto a = t.create(true, "a");
  CHECK(t.find(a.id, true));
  CHECK_FALSE(t.find(a.id, false));  // a session is not a pre-login one
  t.create(true, "b");
  t.create(true, "c");
  t.create(true, "d");
  CHECK(t.size() == 3);
  CHECK_FALSE(t.find(a.id, true));  // the oldest went
  CHECK(console::cookie_value("x=1; keel_console=abc; y=2", "keel_console") == "abc");
  CHECK(console::cookie_value("keel_console_pre=zz", "keel_console").empty());
}

TEST_CASE("console: with tokens, reads need journal.read and an escalation capability") {
  ConsoleEnv c(true);
  file_escalation(*c.env.store);
  const std::vector<std::string> reads{"/console/api/state", "/console/api/journal", "/console/events"};
  // carol may only take leases: she reads no journal payload and no escalation.
  // dave reads the journal but may neither file nor resolve an escalation.
  const std::vector<std::pair<std::string, std::string>> refused{
      {"carol-token-0123456789", "missing capability journal.read"},
      {"dave-token-0123456789", "missing capability escalation.request or escalation.resolve"}};
  for (const auto& [token, error] : refused) {
    const LoggedIn who = log_in(c, token);
    for (const auto& path : reads) {
      CAPTURE(token, path);
      auto r = c.get(path, who.cookie);
      CHECK(r.status == 403);
      CHECK(body_of(r).at("error").as_string() == error);
      CHECK_FALSE(r.stream);
    }
  }
  // bob (an agent's defaults: journal.read, escalation.request) and alice
  // (journal.read, escalation.resolve) read.
  for (const char* token : {"bob-token-0123456789", "alice-token-0123456789"}) {
    CAPTURE(token);
    const LoggedIn who = log_in(c, token);
    CHECK(c.get("/console/api/state", who.cookie).status == 200);
    CHECK(c.get("/console/api/journal", who.cookie).status == 200);
    CHECK(c.get("/console/events", who.cookie).stream);
  }
  // The session route still tells carol who she is.
  auto s = c.get("/console/api/session", log_in(c, "carol-token-0123456789").cookie);
  CHECK(s.status == 200);
  CHECK(body_of(s).at("principal") == "carol");
}

TEST_CASE("console: a journal page with a before_seq far past the head answers at once") {
  ConsoleEnv c(false);
  c.env.store->acquire_lease(agent("worker"), acquire("deploy-slot"));
  auto r = c.get("/console/api/journal?before_seq=999999999999999999&op=NOTHING");
  REQUIRE(r.status == 200);
  CHECK(body_of(r).at("records").as_array().empty());
  r = c.get("/console/api/journal?before_seq=999999999999999999");
  REQUIRE(r.status == 200);
  CHECK_FALSE(body_of(r).at("records").as_array().empty());
}

TEST_CASE("console: a login page left open past its pre-login session logs in after a new one") {
  // Pre-login sessions of 1 s here (10 min in keel): long enough for the steps
  // below that need a live one, even on a loaded machine under sanitizers.
  ConsoleEnv c(true, std::chrono::milliseconds(1000));
  auto pre = c.get("/console/api/session");
  const std::string old_cookie = cookie_from(pre, "keel_console_pre_7777");
  const std::string old_csrf(body_of(pre).at("csrf").as_string());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  // Expired: not "invalid token" (401), which would read as a wrong token.
  auto r = c.post("/console/login", R"({"token":"bob-token-0123456789"})", old_cookie, old_csrf);
  CHECK(r.status == 403);
  CHECK(body_of(r).at("error") == "login session expired");
  r = c.post("/console/login", R"({"token":"bob-token-0123456789"})", "", old_csrf);
  CHECK(r.status == 403);
  CHECK(body_of(r).at("error") == "login session expired");
  // What the page does then: a new pre-login session, the same login again.
  auto fresh = c.get("/console/api/session", old_cookie);
  const std::string fresh_cookie = cookie_from(fresh, "keel_console_pre_7777");
  CHECK(fresh_cookie != old_cookie);
  r = c.post("/console/login", R"({"token":"bob-token-0123456789"})", fresh_cookie,
             std::string(body_of(fresh).at("csrf").as_string()));
  CHECK(r.status == 200);
  // A wrong token stays a 401.
  auto again = c.get("/console/api/session");
  r = c.post("/console/login", R"({"token":"guess"})", cookie_from(again, "keel_console_pre_7777"),
             std::string(body_of(again).at("csrf").as_string()));
  CHECK(r.status == 401);
  CHECK(body_of(r).at("error") == "invalid token");
}

TEST_CASE("console: a visit with a live pre-login cookie extends it") {
  ConsoleEnv c(true);
  auto pre = c.get("/console/api/session");
  const std::string cookie = cookie_from(pre, "keel_console_pre_7777");
  auto again = c.get("/console/api/session", cookie);
  CHECK(body_of(again).at("csrf") == body_of(pre).at("csrf"));
  // The same session, its cookie sent again with a full Max-Age.
  CHECK(cookie_from(again, "keel_console_pre_7777") == cookie);
  CHECK(header_of(again, "Set-Cookie").find("Max-Age=600") != std::string::npos);

  console::SessionTable t(std::chrono::milliseconds(60'000), std::chrono::milliseconds(2'000), 8);
  auto s = t.create(false, "");
  std::this_thread::sleep_for(std::chrono::milliseconds(1'200));
  CHECK(t.extend(s.id, false));
  CHECK_FALSE(t.extend(s.id, true));  // not a logged-in session
  std::this_thread::sleep_for(std::chrono::milliseconds(1'200));
  CHECK(t.find(s.id, false));  // 2.4 s after its creation, 1.2 s after the extension
  CHECK_FALSE(t.extend("nope", false));
}

TEST_CASE("console: pre-login sessions never evict logged-in ones") {
  console::SessionTable t(std::chrono::milliseconds(60'000), std::chrono::milliseconds(60'000), 3);
  auto a = t.create(true, "a");
  auto b = t.create(true, "b");
  // Anyone may open pre-login sessions: a flood of them.
  std::vector<console::ConsoleSession> pres;
  for (int i = 0; i < 100; ++i) pres.push_back(t.create(false, ""));
  CHECK(t.find(a.id, true));
  CHECK(t.find(b.id, true));
  CHECK(t.size() == 5);  // 2 logged in, 3 pre-login
  CHECK(t.find(pres.back().id, false));
  CHECK_FALSE(t.find(pres.front().id, false));  // the oldest pre-login ones went
  // Logged-in sessions are bounded among themselves.
  t.create(true, "c");
  t.create(true, "d");
  CHECK_FALSE(t.find(a.id, true));
  CHECK(t.find(pres.back().id, false));
  CHECK(t.size() == 6);
}

TEST_CASE("console: two consoles on one host keep their own cookies") {
  ConsoleEnv c(false);
  auto first = c.get("/console/api/session");
  const std::string cookie = cookie_from(first, "keel_console_7777");
  REQUIRE(!cookie.empty());
  // The same server reached on another port (as another console would be):
  // another cookie name, so the browser keeps both.
  c.host = "127.0.0.1:8888";
  auto other = c.get("/console/api/session", cookie);
  CHECK(cookie_from(other, "keel_console_7777").empty());
  CHECK(!cookie_from(other, "keel_console_8888").empty());
  CHECK(body_of(other).at("csrf") != body_of(first).at("csrf"));  // 7777's cookie is not read here
  // IPv6 and a Host without a port.
  c.host = "[::1]:9999";
  CHECK(!cookie_from(c.get("/console/api/session"), "keel_console_9999").empty());
  c.host = "localhost";
  CHECK(!cookie_from(c.get("/console/api/session"), "keel_console_80").empty());
  // Logout clears the cookie of its own port.
  c.host = kHost;
  auto out = c.post("/console/logout", "{}", cookie, std::string(body_of(first).at("csrf").as_string()));
  CHECK(out.status == 204);
  CHECK(header_of(out, "Set-Cookie").rfind("keel_console_7777=;", 0) == 0);
}

namespace {

bool eventually(const std::function<bool()>& what) {
  for (int i = 0; i < 500; ++i) {  // 5 s
    if (what()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return what();
}

}  // namespace

TEST_CASE("console: an event stream opened with a login session ends with the session") {
  ConsoleEnv c(true);
  const LoggedIn bob = log_in(c, "bob-token-0123456789");
  const LoggedIn alice = log_in(c, "alice-token-0123456789");
  auto bob_stream = std::make_shared<console::testing::FakeStream>();
  auto alice_stream = std::make_shared<console::testing::FakeStream>();
  auto r = c.get("/console/events", bob.cookie);
  REQUIRE(r.stream);
  r.stream(bob_stream);
  r = c.get("/console/events", alice.cookie);
  REQUIRE(r.stream);
  r.stream(alice_stream);
  CHECK(eventually([&] { return !bob_stream->events().empty() && !alice_stream->events().empty(); }));
  CHECK(c.post("/console/logout", "{}", bob.cookie, bob.csrf).status == 204);
  CHECK(eventually([&] { return bob_stream->closed(); }));
  // alice's session lives on, and so does her stream.
  const std::size_t before = alice_stream->events().size();
  c.env.store->acquire_lease(agent("worker"), acquire("deploy-slot"));
  CHECK(eventually([&] { return alice_stream->events().size() > before; }));
  CHECK_FALSE(alice_stream->closed());
}

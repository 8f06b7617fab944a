// keel/console/console_routes.cpp — the console's routes: which request is
// which, who makes it, and the checks before anything changes
// (console_routes.h). The data comes from console_snapshot.cpp, the live
// updates from console_events.cpp, the sessions from console_sessions.cpp.
#include "console/console_routes.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "console/console_assets.h"
#include "console/console_sessions.h"
#include "crypto/hmac.h"
#include "state/escalation_types.h"

namespace keel::console {

namespace json = boost::json;
using mcp::HttpRouteRequest;
using mcp::HttpRouteResponse;

const std::vector<std::string>& console_capabilities() {
  static const std::vector<std::string> caps{std::string(state::caps::kEscalationResolve),
                                             std::string(state::caps::kLeaseForce),
                                             std::string(state::caps::kAgentAdmin)};
  return caps;
}

namespace {

// Cookie names end in the server's port (cookies are per host, not per port:
// two consoles on one host must not overwrite each other's).
constexpr const char* kSessionCookie = "keel_console_";
constexpr const char* kPreCookie = "keel_console_pre_";
constexpr const char* kCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

void security_headers(HttpRouteResponse& r) {
  r.headers.emplace_back("Content-Security-Policy", kCsp);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Cache-Control", "no-store");
}

HttpRouteResponse reply(unsigned status, const json::value& body) {
  HttpRouteResponse r;
  r.status = status;
  r.body = json::serialize(body);
  security_headers(r);
  return r;
}

HttpRouteResponse error_reply(unsigned status, const std::string& message) {
  return reply(status, json::object{{"error", message}});
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// %XX and '+' decoded; nullopt when malformed.
std::optional<std::string> url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
        return std::nullopt;
      }
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// The value of `key` in a query string, nullopt when absent or empty.
std::optional<std::string> query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = part.find('=');
    if (part.substr(0, eq) != key || eq == std::string_view::npos) continue;
    auto v = url_decode(part.substr(eq + 1), true);
    if (v && !v->empty()) return v;
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::int64_t> parse_int(const std::string& s) {
  if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), ::isdigit)) return std::nullopt;
  return std::stoll(s);
}

unsigned status_of(state::ErrorCode code) {
  switch (code) {
    case state::ErrorCode::kInvalidArgument:
      return 400;
    case state::ErrorCode::kPermissionDenied:
      return 403;
    case state::ErrorCode::kNotFound:
      return 404;
    case state::ErrorCode::kBusy:
      return 503;
    default:
      return 500;
  }
}

// The port the browser addressed (from Host), or the scheme's default.
std::string port_of(const HttpRouteRequest& in) {
  const std::string host = in.header("host");
  const auto colon = host.rfind(':');
  const auto bracket = host.rfind(']');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    const std::string port = host.substr(colon + 1);
    if (!port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), ::isdigit)) return port;
  }
  return in.tls ? "443" : "80";
}

std::string cookie_name(const char* prefix, const HttpRouteRequest& in) { return prefix + port_of(in); }

// Who a request comes from, once authenticated.
struct Caller {
  std::string name;  // "local" or the token principal's name
  state::Principal principal;
};

class Console {
 public:
  explicit Console(ConsoleConfig c)
      : cfg_(std::move(c)),
        sessions_(cfg_.session_ttl, cfg_.pre_login_ttl, cfg_.max_sessions),
        snapshots_(*cfg_.store, reader()),
        hub_(snapshots_, cfg_.events) {}

  HttpRouteResponse page(const HttpRouteRequest& in) {
    if (in.method != "GET" && in.method != "HEAD") return error_reply(405, "method not allowed");
    return asset("index.html", "text/html; charset=utf-8");
  }

  HttpRouteResponse handle(const HttpRouteRequest& in) {
    const std::string& p = in.path;
    if (in.method == "GET") {
      if (p == "/console/app.js") return asset("app.js", "text/javascript; charset=utf-8");
      if (p == "/console/app.css") return asset("app.css", "text/css; charset=utf-8");
      if (p == "/console/api/session") return session(in);
      if (p == "/console/api/state") {
        return with_caller(in, [&](const Caller&) { return reply(200, snapshots_.build()); });
      }
      if (p == "/console/api/journal") return with_caller(in, [&](const Caller&) { return journal(in); });
      if (p == "/console/events") return with_caller(in, [&](const Caller&) { return events(in); });
      return error_reply(404, "not found");
    }
    if (in.method != "POST") return error_reply(405, "method not allowed");
    if (p == "/console/login") return login(in);
    if (p == "/console/logout") return logout(in);
    if (p.rfind("/console/api/", 0) == 0) return action(in);
    return error_reply(404, "not found");
  }

 private:
  bool auth_required() const { return !cfg_.tokens.empty(); }

  state::Principal reader() const {
    const auto& all = state::all_capabilities();
    return state::Principal{"console", cfg_.project, "", std::set<std::string>(all.begin(), all.end())};
  }

  HttpRouteResponse asset(const std::string& name, const std::string& type) {
    auto bytes = embedded_asset(name);
    if (!bytes) return error_reply(404, "not found");
    HttpRouteResponse r;
    r.content_type = type;
    r.body = std::string(*bytes);
    security_headers(r);
    return r;
  }

  std::string cookie_header(const std::string& name, const std::string& value, std::int64_t max_age_s,
                            bool tls) const {
    std::string c = name + "=" + value + "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" +
                    std::to_string(max_age_s);
    if (tls) c += "; Secure";
    return c;
  }

  std::optional<Caller> caller_of(const std::string& name) const {
    if (!auth_required()) return Caller{"local", cfg_.local};
    if (!cfg_.principal_for) return std::nullopt;
    auto p = cfg_.principal_for(name);
    if (!p) return std::nullopt;
    return Caller{name, std::move(*p)};
  }

  // The logged-in session of the request's cookie.
  std::optional<ConsoleSession> session_of(const HttpRouteRequest& in) {
    return sessions_.find(cookie_value(in.header("cookie"), cookie_name(kSessionCookie, in)), true);
  }

  // The caller of a read: anyone on loopback without tokens; else a session
  // cookie or a valid bearer token.
  std::optional<Caller> reader_of(const HttpRouteRequest& in) {
    if (!auth_required()) return caller_of("local");
    if (auto s = session_of(in)) return caller_of(s->principal);
    if (!in.auth_subject.empty()) return caller_of(in.auth_subject);
    return std::nullopt;
  }

  // A read (state, journal, events) shows every journal payload and every
  // escalation, so a token principal needs journal.read and one of
  // escalation.request / escalation.resolve for it. The local principal (no
  // tokens) reads as it always did.
  std::optional<HttpRouteResponse> refuse_read(const Caller& who) const {
    if (!auth_required()) return std::nullopt;
    if (!who.principal.can(state::caps::kJournalRead)) {
      return error_reply(403, "missing capability " + std::string(state::caps::kJournalRead));
    }
    if (!who.principal.can(state::caps::kEscalationRequest) && !who.principal.can(state::caps::kEscalationResolve)) {
      return error_reply(403, "missing capability " + std::string(state::caps::kEscalationRequest) + " or " +
                                  std::string(state::caps::kEscalationResolve));
    }
    return std::nullopt;
  }

  template <class F>
  HttpRouteResponse with_caller(const HttpRouteRequest& in, F f) {
    auto who = reader_of(in);
    if (!who) return error_reply(401, "not logged in");
    if (auto refused = refuse_read(*who)) return *refused;
    try {
      return f(*who);
    } catch (const state::StoreError& e) {
      return error_reply(status_of(e.code()), e.what());
    }
  }

  json::object session_json(const std::optional<Caller>& who, const std::string& csrf) const {
    json::array caps;
    if (who) {
      for (const auto& c : console_capabilities()) {
        if (who->principal.can(c)) caps.emplace_back(c);
      }
    }
    return json::object{{"auth_required", auth_required()},
                        {"authenticated", who.has_value()},
                        {"principal", who ? json::value(who->name) : json::value(nullptr)},
                        {"capabilities", std::move(caps)},
                        {"csrf", csrf.empty() ? json::value(nullptr) : json::value(csrf)},
                        {"project", cfg_.project}};
  }

  HttpRouteResponse session(const HttpRouteRequest& in) {
    if (auto s = session_of(in)) {
      if (auto who = caller_of(s->principal)) return reply(200, session_json(who, s->csrf));
    }
    std::string set_cookie;
    std::string csrf;
    std::optional<Caller> who;
    if (!auth_required()) {
      // Loopback without tokens: the browser is the local principal at once.
      ConsoleSession s = sessions_.create(true, "local");
      set_cookie = cookie_header(cookie_name(kSessionCookie, in), s.id, cfg_.session_ttl.count() / 1000, in.tls);
      csrf = s.csrf;
      who = caller_of("local");
    } else if (auto pre = sessions_.find(cookie_value(in.header("cookie"), cookie_name(kPreCookie, in)), false);
               pre && sessions_.extend(pre->id, false)) {
      // A login page left open: each visit keeps its pre-login session alive.
      csrf = pre->csrf;
      set_cookie = cookie_header(cookie_name(kPreCookie, in), pre->id, cfg_.pre_login_ttl.count() / 1000, in.tls);
    } else {
      ConsoleSession s = sessions_.create(false, "");
      set_cookie = cookie_header(cookie_name(kPreCookie, in), s.id, cfg_.pre_login_ttl.count() / 1000, in.tls);
      csrf = s.csrf;
    }
    HttpRouteResponse r = reply(200, session_json(who, csrf));
    if (!set_cookie.empty()) r.headers.emplace_back("Set-Cookie", set_cookie);
    return r;
  }

  // The same-origin, CSRF and Content-Type checks of every POST. Returns the
  // refusal, or nullopt when the request may go on (`session` then set).
  std::optional<HttpRouteResponse> check_post(const HttpRouteRequest& in, bool pre_login,
                                              std::optional<ConsoleSession>& session) {
    const std::string host = in.header("host");
    const std::string own = std::string(in.tls ? "https://" : "http://") + lower(host);
    if (in.has_header("origin")) {
      std::string origin = lower(in.header("origin"));
      if (!origin.empty() && origin.back() == '/') origin.pop_back();
      if (host.empty() || origin != own) return error_reply(403, "cross-origin request");
    } else if (lower(in.header("sec-fetch-site")) != "same-origin") {
      return error_reply(403, "cross-origin request");
    }
    const std::string ctype = lower(in.content_type);
    if (ctype.substr(0, ctype.find(';')) != "application/json") {
      return error_reply(400, "Content-Type must be application/json");
    }
    session = session_of(in);
    if (!session && pre_login) {
      session = sessions_.find(cookie_value(in.header("cookie"), cookie_name(kPreCookie, in)), false);
      // Not a wrong token: the page fetches a new pre-login session and retries.
      if (!session) return error_reply(403, "login session expired");
    }
    if (!session) return error_reply(401, "not logged in");
    if (!crypto::constant_time_equals(in.header("x-keel-csrf"), session->csrf)) {
      return error_reply(403, "bad CSRF token");
    }
    return std::nullopt;
  }

  static std::optional<json::object> body_object(const HttpRouteRequest& in) {
    boost::system::error_code ec;
    json::value v = json::parse(in.body.empty() ? std::string("{}") : in.body, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return std::move(v.as_object());
  }

  HttpRouteResponse login(const HttpRouteRequest& in) {
    std::optional<ConsoleSession> s;
    if (auto refused = check_post(in, true, s)) return *refused;
    if (s->logged_in) return reply(200, session_json(caller_of(s->principal), s->csrf));
    auto body = body_object(in);
    const json::value* token = body ? body->if_contains("token") : nullptr;
    if (token == nullptr || !token->is_string()) return error_reply(400, "body must be {\"token\": \"...\"}");
    std::optional<std::string> name;
    for (const auto& p : cfg_.tokens) {  // every token compared: timing tells nothing
      if (crypto::constant_time_equals(token->get_string(), p.token) && !p.token.empty() && !name) name = p.name;
    }
    std::optional<Caller> who = name ? caller_of(*name) : std::nullopt;
    if (!who) return error_reply(401, "invalid token");
    sessions_.remove(s->id);
    ConsoleSession fresh = sessions_.create(true, *name);
    HttpRouteResponse r = reply(200, session_json(who, fresh.csrf));
    r.headers.emplace_back("Set-Cookie", cookie_header(cookie_name(kSessionCookie, in), fresh.id,
                                                       cfg_.session_ttl.count() / 1000, in.tls));
    r.headers.emplace_back("Set-Cookie", cookie_header(cookie_name(kPreCookie, in), "", 0, in.tls));
    spdlog::info("console: {} logged in", *name);
    return r;
  }

  HttpRouteResponse logout(const HttpRouteRequest& in) {
    std::optional<ConsoleSession> s;
    if (auto refused = check_post(in, false, s)) return *refused;
    sessions_.remove(s->id);
    HttpRouteResponse r;
    r.status = 204;
    security_headers(r);
    r.headers.emplace_back("Set-Cookie", cookie_header(cookie_name(kSessionCookie, in), "", 0, in.tls));
    return r;
  }

  HttpRouteResponse journal(const HttpRouteRequest& in) {
    JournalPageRequest q;
    q.op = query_param(in.query, "op");
    q.subject = query_param(in.query, "subject");
    q.agent = query_param(in.query, "agent");
    if (auto b = query_param(in.query, "before_seq")) {
      q.before_seq = parse_int(*b);
      if (!q.before_seq) return error_reply(400, "before_seq must be a number");
    }
    if (auto l = query_param(in.query, "limit")) {
      auto n = parse_int(*l);
      if (!n || *n < 1 || *n > 1000) return error_reply(400, "limit must be 1..1000");
      q.limit = static_cast<int>(*n);
    }
    return reply(200, snapshots_.journal_page(q));
  }

  HttpRouteResponse events(const HttpRouteRequest& in) {
    HttpRouteResponse r;
    security_headers(r);
    r.headers.emplace_back("X-Accel-Buffering", "no");
    // A stream opened with a login session ends with it (logout, expiry).
    std::function<bool()> allowed;
    if (auth_required()) {
      if (auto s = session_of(in)) {
        allowed = [this, id = s->id] { return sessions_.find(id, true).has_value(); };
      }
    }
    r.stream = [this, allowed](std::shared_ptr<mcp::HttpEventStream> s) { hub_.add(std::move(s), allowed); };
    return r;
  }

  // POST /console/api/...: resolve, release, suspend, resume.
  HttpRouteResponse action(const HttpRouteRequest& in) {
    std::optional<ConsoleSession> s;
    if (auto refused = check_post(in, false, s)) return *refused;
    std::optional<Caller> who = caller_of(s->principal);
    if (!who) return error_reply(401, "not logged in");
    // /console/api/<kind>/<id>/<verb> or /console/api/leases/release
    std::string_view rest = std::string_view(in.path).substr(std::string_view("/console/api/").size());
    std::vector<std::string> parts;
    while (!rest.empty()) {
      const auto slash = rest.find('/');
      parts.emplace_back(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    }
    auto need = [&](std::string_view cap) -> std::optional<HttpRouteResponse> {
      if (who->principal.can(cap)) return std::nullopt;
      return error_reply(403, "missing capability " + std::string(cap));
    };
    auto body = body_object(in);
    try {
      if (parts.size() == 3 && parts[0] == "escalations" && parts[2] == "resolve") {
        if (auto refused = need(state::caps::kEscalationResolve)) return *refused;
        auto id = parse_int(parts[1]);
        if (!id) return error_reply(404, "no escalation " + parts[1]);
        if (!body) return error_reply(400, "body must be a JSON object");
        return resolve(*who, *id, *body);
      }
      if (parts.size() == 2 && parts[0] == "leases" && parts[1] == "release") {
        if (auto refused = need(state::caps::kLeaseForce)) return *refused;
        const json::value* name = body ? body->if_contains("name") : nullptr;
        if (name == nullptr || !name->is_string() || name->get_string().empty()) {
          return error_reply(400, "body must be {\"name\": \"...\"}");
        }
        return release(*who, std::string(name->get_string()));
      }
      if (parts.size() == 3 && parts[0] == "agents" && (parts[2] == "suspend" || parts[2] == "resume")) {
        if (auto refused = need(state::caps::kAgentAdmin)) return *refused;
        auto agent = url_decode(parts[1], false);
        if (!agent || agent->empty()) return error_reply(404, "no agent " + parts[1]);
        if (!body) return error_reply(400, "body must be a JSON object");
        return suspend_or_resume(*who, *agent, parts[2] == "suspend", *body);
      }
    } catch (const state::StoreError& e) {
      return error_reply(status_of(e.code()), e.what());
    }
    return error_reply(404, "not found");
  }

  HttpRouteResponse resolve(const Caller& who, std::int64_t id, const json::object& body) {
    const json::value* d = body.if_contains("decision");
    auto decision = d != nullptr && d->is_string() ? state::parse_escalation_decision(d->get_string())
                                                   : std::nullopt;
    if (!decision) return error_reply(400, "decision must be OVERRIDE, MODIFY or ABORT");
    state::ResolveEscalationRequest req;
    req.id = id;
    req.decision = *decision;
    req.via = "console";
    if (const json::value* p = body.if_contains("proposal")) {
      if (*decision != state::EscalationDecision::kModify) {
        return error_reply(400, "a proposal goes with MODIFY only");
      }
      req.proposal = *p;
    } else if (*decision == state::EscalationDecision::kModify) {
      return error_reply(400, "MODIFY needs a proposal");
    }
    state::ResolveEscalationResult r = cfg_.store->resolve_escalation(who.principal, req);
    hub_.poke();
    json::object out{{"resolved", r.resolved},
                     {"id", r.escalation.id},
                     {"decision", r.escalation.decision ? json::value(state::to_string(*r.escalation.decision))
                                                        : json::value(nullptr)},
                     {"resolved_by", r.escalation.resolver}};
    if (!r.resolved) {
      out["error"] = "already resolved";
      return reply(409, out);
    }
    return reply(200, out);
  }

  HttpRouteResponse release(const Caller& who, const std::string& name) {
    // lease.force is what the console asks for; the store's release also wants
    // the plain lease capability, which forcing implies.
    state::Principal acting = who.principal;
    acting.capabilities.insert(std::string(state::caps::kLease));
    state::ReleaseOutcome outcome = cfg_.store->release_lease(acting, name, "", /*force=*/true);
    hub_.poke();
    if (outcome == state::ReleaseOutcome::kAlreadyReleased) {
      return error_reply(404, "no live lease on " + name);
    }
    return reply(200, json::object{{"name", name}, {"outcome", state::to_string(outcome)}});
  }

  HttpRouteResponse suspend_or_resume(const Caller& who, const std::string& agent, bool suspend,
                                      const json::object& body) {
    state::AgentInfo info;
    if (suspend) {
      std::string reason = "suspended from the console by " + who.name;
      if (const json::value* r = body.if_contains("reason")) {
        if (!r->is_string()) return error_reply(400, "reason must be a string");
        if (!r->get_string().empty()) reason = std::string(r->get_string());
      }
      info = cfg_.store->suspend_agent(who.principal, agent, reason);
    } else {
      info = cfg_.store->resume_agent(who.principal, agent);
    }
    hub_.poke();
    return reply(200, json::object{{"agent", info.name}, {"status", state::to_string(info.status)}});
  }

  ConsoleConfig cfg_;
  SessionTable sessions_;
  SnapshotSource snapshots_;
  EventHub hub_;  // (after snapshots_, which it reads)
};

}  // namespace

void add_console_routes(mcp::HttpOptions& http, ConsoleConfig config) {
  if (config.store == nullptr) throw std::invalid_argument("console: no store");
  auto console = std::make_shared<Console>(std::move(config));
  http.routes.emplace_back(
      "/", [console](const HttpRouteRequest& in) { return console->page(in); }, /*is_public=*/true,
      /*exact=*/true);
  http.routes.emplace_back(
      "/console/", [console](const HttpRouteRequest& in) { return console->handle(in); },
      /*is_public=*/true);
}

}  // namespace keel::console

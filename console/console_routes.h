// keel/console/console_routes.h — the web console on keel's HTTP server: the
// page at / with its script and style, the JSON API, the login, the event
// stream and the actions (docs: console/README.md; API: /console/api/...).
//
// Security: the routes are public to the bearer-token check (a browser sends
// no Authorization header) and authenticate themselves: with token principals
// configured, a login (the token pasted once) opens a session kept in an
// HttpOnly SameSite=Strict cookie; without them (loopback only) every caller
// is the local principal. Every POST needs an Origin equal to the server's
// own origin (or Sec-Fetch-Site: same-origin without Origin), the session's
// CSRF token in X-Keel-CSRF and a JSON body; an action also needs its
// capability. A refused request changes nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "console/console_events.h"
#include "mcp/http_server.h"
#include "state/store.h"

namespace keel::console {

// What the console needs from whoever serves it (keel serve: cli/serve_console.cpp).
struct ConsoleConfig {
  state::Store* store = nullptr;  // outlives the routes
  std::string project;            // the project id
  // Bearer-token principals (name, token). Non-empty: a login is required.
  std::vector<mcp::HttpPrincipal> tokens;
  // The store principal a token principal (by name) acts as: its agent and
  // its capabilities; nullopt refuses the login. Called on request threads.
  std::function<std::optional<state::Principal>(const std::string& name)> principal_for;
  // Without tokens: who the console acts as (shown as "local").
  state::Principal local;
  std::chrono::milliseconds session_ttl{12 * 3'600'000};
  std::chrono::milliseconds pre_login_ttl{10 * 60'000};
  std::size_t max_sessions = 256;
  EventTiming events;
};

// Adds the console's routes (/ exact, /console/ prefix) to `http`, which must
// not have started. The routes share one state (sessions, the event poller),
// freed with the last copy of the routes.
void add_console_routes(mcp::HttpOptions& http, ConsoleConfig config);

// The capabilities the console's buttons need, in this order.
const std::vector<std::string>& console_capabilities();

}  // namespace keel::console

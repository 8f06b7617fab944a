// keel/console/console_sessions.h — the console's browser sessions: a random
// id kept in an HttpOnly SameSite=Strict cookie, the principal it logged in
// as, and its CSRF token. Pre-login sessions (cookie keel_console_pre) carry
// only the CSRF token the login POST must show.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

namespace keel::console {

struct ConsoleSession {
  std::string id;         // the cookie value (64 hex chars)
  std::string csrf;       // X-Keel-CSRF must equal it (64 hex chars)
  bool logged_in = false;  // false: a pre-login session
  std::string principal;  // the principal's name ("local" without tokens); "" before login
  std::int64_t expires_ms = 0;  // steady-clock ms
  std::uint64_t serial = 0;     // creation order in its table
};

// Thread-safe. Holds at most `max_sessions` logged-in sessions and, apart,
// at most `max_sessions` pre-login ones: when a kind is full, its session
// closest to expiring goes (of equals, the oldest). A pre-login session (anyone
// may open one) never evicts a logged-in one. Expired sessions are never returned.
class SessionTable {
 public:
  SessionTable(std::chrono::milliseconds session_ttl, std::chrono::milliseconds pre_login_ttl,
               std::size_t max_sessions);

  // A new session (ids from the kernel's CSPRNG).
  ConsoleSession create(bool logged_in, std::string principal);
  // The live session with this id and kind, if any.
  std::optional<ConsoleSession> find(std::string_view id, bool logged_in);
  // Pushes the live session's expiry to now + its ttl; false when it is gone.
  bool extend(std::string_view id, bool logged_in);
  void remove(std::string_view id);
  std::size_t size();

  std::chrono::milliseconds ttl(bool logged_in) const { return logged_in ? session_ttl_ : pre_ttl_; }

 private:
  void prune_locked(std::int64_t now);

  const std::chrono::milliseconds session_ttl_;
  const std::chrono::milliseconds pre_ttl_;
  const std::size_t max_;
  std::mutex mu_;
  std::unordered_map<std::string, ConsoleSession> sessions_;
  std::uint64_t next_serial_ = 0;
};

// The value of cookie `name` in a Cookie header ("a=1; b=2"), "" when absent.
std::string cookie_value(std::string_view cookie_header, std::string_view name);

}  // namespace keel::console

// keel/console/console_sessions.cpp — browser sessions of the console (console_sessions.h).
#include "console/console_sessions.h"

#include <algorithm>
#include <tuple>

#include "crypto/random.h"

namespace keel::console {

namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SessionTable::SessionTable(std::chrono::milliseconds session_ttl,
                           std::chrono::milliseconds pre_login_ttl, std::size_t max_sessions)
    : session_ttl_(session_ttl), pre_ttl_(pre_login_ttl), max_(std::max<std::size_t>(1, max_sessions)) {}

void SessionTable::prune_locked(std::int64_t now) {
  std::erase_if(sessions_, [now](const auto& kv) { return kv.second.expires_ms <= now; });
}

ConsoleSession SessionTable::create(bool logged_in, std::string principal) {
  ConsoleSession s;
  s.id = crypto::secure_random_hex(32);
  s.csrf = crypto::secure_random_hex(32);
  s.logged_in = logged_in;
  s.principal = std::move(principal);
  const std::int64_t now = steady_ms();
  s.expires_ms = now + ttl(logged_in).count();
  std::lock_guard lock(mu_);
  s.serial = next_serial_++;
  prune_locked(now);
  // Each kind has its own bound: only a session of the same kind is evicted.
  auto same_kind = [logged_in](const auto& kv) { return kv.second.logged_in == logged_in; };
  std::size_t count = static_cast<std::size_t>(std::count_if(sessions_.begin(), sessions_.end(), same_kind));
  for (; count >= max_; --count) {
    auto oldest = sessions_.end();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (!same_kind(*it)) continue;
      if (oldest == sessions_.end() || std::tie(it->second.expires_ms, it->second.serial) <
                                           std::tie(oldest->second.expires_ms, oldest->second.serial)) {
        oldest = it;
      }
    }
    sessions_.erase(oldest);
  }
  sessions_.emplace(s.id, s);
  return s;
}

std::optional<ConsoleSession> SessionTable::find(std::string_view id, bool logged_in) {
  if (id.empty()) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = sessions_.find(std::string(id));
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires_ms <= steady_ms()) {
    sessions_.erase(it);
    return std::nullopt;
  }
  if (it->second.logged_in != logged_in) return std::nullopt;
  return it->second;
}

bool SessionTable::extend(std::string_view id, bool logged_in) {
  if (id.empty()) return false;
  const std::int64_t now = steady_ms();
  std::lock_guard lock(mu_);
  auto it = sessions_.find(std::string(id));
  if (it == sessions_.end() || it->second.expires_ms <= now || it->second.logged_in != logged_in) return false;
  it->second.expires_ms = now + ttl(logged_in).count();
  return true;
}

void SessionTable::remove(std::string_view id) {
  std::lock_guard lock(mu_);
  sessions_.erase(std::string(id));
}

std::size_t SessionTable::size() {
  std::lock_guard lock(mu_);
  prune_locked(steady_ms());
  return sessions_.size();
}

std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semi = header.find(';');
    std::string_view part = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    if (part.substr(0, eq) == name) {
      std::string_view v = part.substr(eq + 1);
      while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
      return std::string(v);
    }
  }
  return {};
}

}  // namespace keel::console

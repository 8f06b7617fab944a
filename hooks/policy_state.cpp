// policy_state.cpp — see policy_state.h.
#include "hooks/policy_state.h"

#include <cstdio>

namespace keel::hooks {

namespace json = boost::json;

SessionStateStore::SessionStateStore(state::Store& store, const std::string& project,
                                     const std::string& session_id)
    : store_(store),
      who_{std::string(kStateAgent), project, session_id,
           {std::string(state::caps::kMemorySession)}} {}

SessionStateStore::Snapshot SessionStateStore::load() {
  Snapshot s;
  state::GetResult r =
      store_.memory_get(who_, state::Tier::kSession, state::Namespace::kOwn, kStateKey);
  if (r.found) {
    s.version = r.version;
    if (r.value.is_object()) s.value = std::move(r.value.as_object());
  }
  return s;
}

bool SessionStateStore::save(const json::object& value, std::int64_t expected_version) {
  state::PutRequest put;
  put.tier = state::Tier::kSession;
  put.ns = state::Namespace::kOwn;
  put.key = std::string(kStateKey);
  put.value = value;
  put.expected_version = expected_version;
  try {
    store_.memory_put(who_, put);
  } catch (const state::StoreError& e) {
    if (e.code() == state::ErrorCode::kVersionMismatch) return false;
    throw;
  }
  return true;
}

void SessionStateStore::erase() {
  state::DeleteRequest del;
  del.tier = state::Tier::kSession;
  del.ns = state::Namespace::kOwn;
  del.key = std::string(kStateKey);
  store_.memory_delete(who_, del);
}

std::string agent_key(const HookEvent& ev) { return ev.agent_id.empty() ? "main" : ev.agent_id; }

json::object& agent_section(json::object& state, std::string_view policy, const HookEvent& ev) {
  json::value& p = state[policy];
  if (!p.is_object()) p = json::object();
  json::object& agents = p.as_object();
  const std::string key = agent_key(ev);
  if (!agents.contains(key) && agents.size() >= kMaxAgentsPerPolicy) {
    // Drop a finished subagent's state rather than grow without bound.
    for (auto it = agents.begin(); it != agents.end(); ++it) {
      if (it->key() != "main") {
        agents.erase(it);
        break;
      }
    }
  }
  json::value& a = agents[key];
  if (!a.is_object()) a = json::object();
  return a.as_object();
}

std::string fingerprint(std::string_view text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::int64_t get_int(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return 0;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64()) return static_cast<std::int64_t>(it->value().as_uint64());
  if (it->value().is_double()) return static_cast<std::int64_t>(it->value().as_double());
  return 0;
}

double get_double(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_number()) return 0;
  return it->value().to_number<double>();
}

bool get_bool(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_bool() && it->value().as_bool();
}

std::string get_string(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return std::string(it->value().as_string());
}

bool reset_on_new_turn(const PolicyInput& in, json::object& state, std::string_view member,
                       bool& changed) {
  if (in.new_turn && state.contains(member)) {
    state.erase(member);
    changed = true;
  }
  return in.ev.kind == EventKind::UserPromptSubmit;
}

}  // namespace keel::hooks

// approvals.cpp — see approvals.h.
#include "hooks/approvals.h"

#include <boost/json.hpp>

#include "hooks/policy_state.h"

namespace keel::hooks {

namespace json = boost::json;

namespace {

state::Principal state_principal(const state::Principal& who, const HookEvent& ev) {
  return state::Principal{std::string(kStateAgent), who.project, ev.session_id,
                          {std::string(state::caps::kMemorySession)}};
}

std::string trim(std::string_view s) {
  std::size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  std::size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

void put(state::Store& store, const state::Principal& p, const std::string& key, json::object value) {
  state::PutRequest r;
  r.tier = state::Tier::kSession;
  r.ns = state::Namespace::kOwn;
  r.key = key;
  r.value = std::move(value);
  store.memory_put(p, r);
}

}  // namespace

std::optional<ApprovalKey> approval_key(const HookEvent& ev) {
  if (ev.tool != ToolKind::Shell || ev.session_id.empty()) return std::nullopt;
  std::string cmd = trim(ev.command);
  if (cmd.empty()) return std::nullopt;
  // The agent (a subagent is another agent), the directory and the exact command.
  std::string text = ev.agent_id;
  text.push_back('\0');
  text += ev.cwd;
  text.push_back('\0');
  text += cmd;
  return ApprovalKey{"hooks.approval." + fingerprint(text), std::move(cmd)};
}

bool approved_or_pending(state::Store& store, const state::Principal& who, const HookEvent& ev,
                         const ApprovalKey& k) {
  const state::Principal p = state_principal(who, ev);
  state::GetResult r = store.memory_get(p, state::Tier::kSession, state::Namespace::kOwn, k.key);
  if (r.found && r.value.is_object()) {
    const json::object& o = r.value.as_object();
    // The stored command must be this one: a hash collision never allows another command.
    if (get_string(o, "state") == "approved" && get_string(o, "command") == k.command &&
        get_string(o, "cwd") == ev.cwd)
      return true;
  }
  put(store, p, k.key,
      json::object{{"state", "pending"}, {"command", k.command}, {"cwd", ev.cwd}, {"agent", who.agent},
                   {"tool_use_id", ev.tool_use_id}});
  return false;
}

bool remember_if_pending(state::Store& store, const state::Principal& who, const HookEvent& ev,
                         const ApprovalKey& k) {
  const state::Principal p = state_principal(who, ev);
  state::GetResult r = store.memory_get(p, state::Tier::kSession, state::Namespace::kOwn, k.key);
  if (!r.found || !r.value.is_object()) return false;
  const json::object& o = r.value.as_object();
  if (get_string(o, "state") != "pending" || get_string(o, "command") != k.command) return false;
  // That very call: Claude and Codex name it; other agents send no id, and the same command in
  // the same place and session is the call.
  const std::string id = get_string(o, "tool_use_id");
  if (!id.empty() && !ev.tool_use_id.empty() && id != ev.tool_use_id) return false;
  put(store, p, k.key,
      json::object{{"state", "approved"}, {"command", k.command}, {"cwd", ev.cwd}, {"agent", who.agent},
                   {"tool_use_id", id}});
  store.journal_append(who, kApprovalRemembered, k.command,
                       json::object{{"session_id", ev.session_id}, {"agent_id", ev.agent_id}, {"cwd", ev.cwd},
                                    {"command", k.command}, {"tool_use_id", id}});
  return true;
}

}  // namespace keel::hooks

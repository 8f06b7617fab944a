// guardrail.cpp — see guardrail.h.
#include "hooks/guardrail.h"

#include <algorithm>

namespace keel::hooks {

namespace json = boost::json;

namespace {

// What the guardrail remembers, shared among the session's agents (up to kMaxAgentsPerPolicy
// subagents): the whole session state must fit the store's value limit (64 KiB by default,
// with the budget's records beside it), so each agent keeps its share, never less than
// kMinPerAgent of either.
constexpr std::size_t kMaxFailures = 64;        // fingerprints per agent, when alone
constexpr std::size_t kMaxOutputs = 128;        // output hashes per agent, when alone
constexpr std::size_t kTotalFailures = 256;     // across the session's agents
constexpr std::size_t kTotalOutputs = 512;
constexpr std::size_t kMinPerAgent = 8;

std::size_t share(std::size_t alone, std::size_t total, std::size_t agents) {
  return std::max(kMinPerAgent, std::min(alone, total / std::max<std::size_t>(agents, 1)));
}

bool is_post(EventKind k) { return k == EventKind::PostToolUse || k == EventKind::PostToolUseFailure; }

// Some dialects report a failure inside a successful PostToolUse (success:false, error...).
bool failed(const HookEvent& ev) {
  if (ev.kind == EventKind::PostToolUseFailure || ev.tool_failed) return true;
  if (!ev.tool_response || !ev.tool_response->is_object()) return false;
  const json::object& r = ev.tool_response->as_object();
  if (auto it = r.find("success"); it != r.end() && it->value().is_bool() && !it->value().as_bool()) {
    return true;
  }
  return false;
}

// A call that edits: what ends the no-progress hard stop.
bool edits(const HookEvent& ev) {
  return ev.tool == ToolKind::Write || ev.tool == ToolKind::Edit || ev.tool == ToolKind::Delete;
}

json::object& member_object(json::object& o, std::string_view key) {
  json::value& v = o[key];
  if (!v.is_object()) v = json::object();
  return v.as_object();
}

}  // namespace

std::string call_fingerprint(const HookEvent& ev) {
  return ev.tool_name + ":" + fingerprint(json::serialize(ev.tool_input));
}

bool Guardrail::concerns(const HookEvent& ev) const {
  if (!cfg_.enabled || ev.session_id.empty()) return false;
  if (cfg_.max_failures == 0 && cfg_.no_progress_calls == 0 && cfg_.no_progress_block == 0) return false;
  return ev.kind == EventKind::PreToolUse || is_post(ev.kind) || ev.kind == EventKind::UserPromptSubmit;
}

HookDecision Guardrail::decide(const PolicyCall& call) const {
  SessionRound& s = session_of(call);
  return evaluate(policy_input(call), s.state, s.changed);
}

HookDecision Guardrail::evaluate(const PolicyInput& in, json::object& state, bool& changed) const {
  HookDecision d;
  const HookEvent& ev = in.ev;
  if (!concerns(ev)) return d;
  if (in.new_turn) {
    if (auto it = state.find("guardrail"); it != state.end()) {
      state.erase(it);
      changed = true;
    }
  }
  if (ev.kind == EventKind::PreToolUse) {
    auto g = state.find("guardrail");
    if (g == state.end() || !g->value().is_object()) return d;
    auto a = g->value().as_object().find(agent_key(ev));
    if (a == g->value().as_object().end() || !a->value().is_object()) return d;
    const json::object& sect = a->value().as_object();
    if (cfg_.no_progress_block > 0 && sect.contains("stuck") && !edits(ev)) {
      const std::int64_t idle = get_int(sect, "idle");
      d.outcome = Outcome::Deny;
      d.rule_id = "guardrail:no-progress-block";
      d.reason = "keel guardrail: " + std::to_string(idle) +
                 " tool calls in a row made no progress (no successful edit, no output you had not "
                 "seen), so calls that do not edit are refused until you edit a file or the user "
                 "starts a new turn. Decide from what you know: make the change, or stop and tell the "
                 "user what blocks you. (hooks.guardrail.no_progress_block)";
      return d;
    }
    if (cfg_.max_failures == 0) return d;
    auto f = sect.find("fail");
    if (f == sect.end() || !f->value().is_object()) return d;
    const std::int64_t n = get_int(f->value().as_object(), call_fingerprint(ev));
    if (n >= cfg_.max_failures) {
      d.outcome = Outcome::Deny;
      d.rule_id = "guardrail:repeated-failure";
      d.reason = "keel guardrail: this exact " + ev.tool_name + " call already failed " +
                 std::to_string(n) +
                 " times in this turn. Do not retry it unchanged: read the error, change the "
                 "input or the approach, or ask the user. (hooks.guardrail.max_failures)";
    }
    return d;
  }
  if (!is_post(ev.kind)) return d;

  json::object& a = agent_section(state, "guardrail", ev);
  changed = true;
  const std::size_t agents = member_object(state, "guardrail").size();
  const std::size_t max_failures = share(kMaxFailures, kTotalFailures, agents);
  const std::size_t max_outputs = share(kMaxOutputs, kTotalOutputs, agents);
  // A new agent shrinks every agent's share: trim the others too (oldest first).
  for (auto& [key, other] : member_object(state, "guardrail")) {
    if (!other.is_object()) continue;
    json::object& o = other.as_object();
    if (auto f = o.find("fail"); f != o.end() && f->value().is_object())
      while (f->value().as_object().size() > max_failures) f->value().as_object().erase(f->value().as_object().begin());
    if (auto u = o.find("outs"); u != o.end() && u->value().is_array())
      while (u->value().as_array().size() > max_outputs) u->value().as_array().erase(u->value().as_array().begin());
  }
  json::object& fails = member_object(a, "fail");
  const std::string fp = call_fingerprint(ev);
  bool progress = false;
  if (failed(ev)) {
    while (!fails.empty() && !fails.contains(fp) && fails.size() >= max_failures) fails.erase(fails.begin());
    fails[fp] = get_int(fails, fp) + 1;
  } else {
    fails.erase(fp);
    if (ev.tool == ToolKind::Write || ev.tool == ToolKind::Edit || ev.tool == ToolKind::Delete) {
      progress = true;
    } else if (ev.tool_response) {
      json::value& ov = a["outs"];
      if (!ov.is_array()) ov = json::array();
      json::array& outs = ov.as_array();
      const std::string h = fingerprint(json::serialize(*ev.tool_response));
      bool seen = false;
      for (const auto& o : outs) seen = seen || (o.is_string() && o.as_string() == h);
      if (!seen) {
        progress = true;
        outs.emplace_back(h);
        while (outs.size() > max_outputs) outs.erase(outs.begin());
      }
    }
  }
  if (progress) {
    a["idle"] = 0;
    a["warned"] = 0;
    a.erase("stuck");
    return d;
  }
  const std::int64_t idle = get_int(a, "idle") + 1;
  a["idle"] = idle;
  if (cfg_.no_progress_block > 0 && idle >= cfg_.no_progress_block) a["stuck"] = true;
  if (cfg_.no_progress_calls > 0 && idle >= cfg_.no_progress_calls &&
      idle - get_int(a, "warned") >= cfg_.no_progress_calls) {
    a["warned"] = idle;
    d.rule_id = "guardrail:no-progress";
    d.system_message = "keel guardrail: " + std::to_string(idle) +
                       " tool calls in a row without progress (no successful edit, no new output)";
    d.additional_context =
        "keel guardrail: your last " + std::to_string(idle) +
        " tool calls made no progress (no successful edit and no output you had not already "
        "seen). Stop repeating them: state what you are trying to find out, change the "
        "approach, or ask the user.";
  }
  return d;
}

}  // namespace keel::hooks

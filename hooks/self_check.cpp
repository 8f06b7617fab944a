// self_check.cpp — see self_check.h.
#include "hooks/self_check.h"

namespace keel::hooks {

namespace json = boost::json;

namespace {
bool is_tool_event(EventKind k) {
  return k == EventKind::PreToolUse || k == EventKind::PostToolUse || k == EventKind::PostToolUseFailure;
}
}  // namespace

bool SelfCheck::concerns(const HookEvent& ev) const {
  if (!cfg_.enabled || ev.session_id.empty()) return false;
  return ev.kind == EventKind::Stop || (cfg_.subagents && ev.kind == EventKind::SubagentStop) ||
         ev.kind == EventKind::UserPromptSubmit || is_tool_event(ev.kind);
}

HookDecision SelfCheck::decide(const PolicyCall& call) const {
  SessionRound& s = session_of(call);
  if (s.stop_blocked) return {};  // the self-check does not pile onto a stop already blocked
  return evaluate(policy_input(call), s.state, s.changed);
}

HookDecision SelfCheck::evaluate(const PolicyInput& in, json::object& state, bool& changed) const {
  HookDecision d;
  const HookEvent& ev = in.ev;
  if (!concerns(ev) || reset_on_new_turn(in, state, "self_check", changed)) return d;

  if (is_tool_event(ev.kind)) {
    auto s = state.find("self_check");
    if (s == state.end() || !s->value().is_object()) return d;
    auto a = s->value().as_object().find(agent_key(ev));
    if (a == s->value().as_object().end() || !a->value().is_object()) return d;
    json::object& ao = a->value().as_object();
    if (get_int(ao, "blocks") > 0 && !get_bool(ao, "tool")) {
      ao["tool"] = true;
      changed = true;
    }
    return d;
  }

  json::object& a = agent_section(state, "self_check", ev);
  const std::int64_t blocks = get_int(a, "blocks");
  if (blocks > 0 && get_bool(a, "tool")) return d;  // verified since the block: accept
  changed = true;
  if (blocks >= cfg_.max_blocks) {
    a["tool"] = true;  // accept later stops of this turn without another message
    d.rule_id = "self_check:cap";
    d.system_message = "keel self-check: the agent stopped " + std::to_string(blocks + 1) +
                       " times without running a tool to verify its work; letting it stop "
                       "(hooks.self_check.max_blocks)";
    return d;
  }
  a["blocks"] = blocks + 1;
  a["tool"] = false;
  d.outcome = Outcome::BlockStop;
  if (blocks == 0) {
    d.rule_id = "self_check:checklist";
    d.reason = "keel self-check: " + cfg_.checklist;
  } else {
    d.rule_id = "self_check:no-tool-run";
    d.reason = "keel self-check: you have not run any tool since you were asked to verify your "
               "work. Actually run the checks (read the changed code, run the tests or build), "
               "then stop.\n" + cfg_.checklist;
  }
  return d;
}

}  // namespace keel::hooks

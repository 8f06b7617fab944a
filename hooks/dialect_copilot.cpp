// dialect_copilot.cpp — see dialect_copilot.h.
#include "hooks/dialect_copilot.h"

#include "hooks/dialect_util.h"

namespace keel::hooks {

using namespace dutil;

HookEvent CopilotDialect::parse(std::string_view in) const {
  json::object o = dutil::parse_object(in, name());
  HookEvent ev;
  ev.dialect = "copilot";
  std::string e = str(o, "hookEventName");
  if (e.empty()) e = str(o, "hook_event_name");
  if (e.empty()) {
    if (val(o, "toolResult")) e = "postToolUse";
    else if (val(o, "toolName")) e = "preToolUse";
    else if (val(o, "prompt")) e = "userPromptSubmitted";
    else if (val(o, "source") || val(o, "initialPrompt")) e = "sessionStart";
    else if (val(o, "reason")) e = "sessionEnd";
    else if (val(o, "error")) e = "errorOccurred";
    else throw HookInputError("copilot: cannot tell the hook event (no hookEventName, toolName, prompt, source or reason)");
  }
  ev.event_name = e;
  if (e == "preToolUse") ev.kind = EventKind::PreToolUse;
  else if (e == "postToolUse") ev.kind = EventKind::PostToolUse;
  else if (e == "postToolUseFailure") ev.kind = EventKind::PostToolUseFailure;
  else if (e == "userPromptSubmitted") ev.kind = EventKind::UserPromptSubmit;
  else if (e == "sessionStart") ev.kind = EventKind::SessionStart;
  else if (e == "sessionEnd") ev.kind = EventKind::SessionEnd;
  // agentStop and subagentStop stay EventKind::Other: Copilot has no blocking stop, so an oracle
  // or self-check there would run its check for an answer nobody reads.
  ev.session_id = str(o, "sessionId");
  ev.cwd = str(o, "cwd");
  ev.prompt = str(o, "prompt");
  if (ev.prompt.empty()) ev.prompt = str(o, "initialPrompt");
  ev.source = str(o, "source");
  if (ev.kind == EventKind::PreToolUse || ev.kind == EventKind::PostToolUse || ev.kind == EventKind::PostToolUseFailure) {
    std::string tool = required(o, "toolName", name());
    set_tool(ev, std::move(tool), object_or_json_string(val(o, "toolArgs")));
    require_tool_target(ev, "toolArgs");
  }
  if (const json::object* r = obj(o, "toolResult")) {
    ev.tool_response = *r;
    std::string rt = str(*r, "resultType");
    if (rt == "failure") {
      ev.tool_failed = true;
      ev.error = str(*r, "textResultForLlm");
    }
  }
  if (ev.error.empty()) {
    if (const json::object* er = obj(o, "error")) ev.error = str(*er, "message");
    else ev.error = str(o, "error");
  }
  ev.raw = std::move(o);
  return ev;
}

RenderResult CopilotDialect::render(const HookEvent& ev, const HookDecision& d) const {
  json::object out;
  if (ev.kind == EventKind::PreToolUse) {
    if (d.outcome == Outcome::Deny || d.outcome == Outcome::Ask || d.outcome == Outcome::BlockStop) {
      out["permissionDecision"] = "deny";
      out["permissionDecisionReason"] = degraded_reason(d);
    } else if (d.outcome == Outcome::Allow) {
      out["permissionDecision"] = "allow";
      if (!d.reason.empty()) out["permissionDecisionReason"] = cap(d.reason);
    }
  }
  return {emit(out), {}, 0};
}

RenderResult CopilotDialect::render_unreadable(std::string_view error) const {
  // Copilot acts only on a deny JSON, so the exit code and stderr alone would let the call through.
  RenderResult r = Dialect::render_unreadable(error);
  json::object out;
  out["permissionDecision"] = "deny";
  out["permissionDecisionReason"] = unreadable_input_reason(error);
  r.stdout_text = emit(out);
  return r;
}

}  // namespace keel::hooks

// dialect_copilot.cpp — GitHub Copilot CLI / cloud agent hooks (reference §2.1/§2.2).
// Input is camelCase: timestamp (ms), cwd, toolName (bash, powershell, edit, view, create, ...),
// toolArgs as a JSON *string* (decoded here), toolResult{resultType, textResultForLlm} on
// postToolUse, prompt on userPromptSubmitted, sessionId when present. The event name is taken
// from hookEventName / hook_event_name when present, else inferred from the shape (toolResult →
// postToolUse, toolName → preToolUse, prompt → userPromptSubmitted, source → sessionStart,
// reason → sessionEnd, error → errorOccurred).
// agentStop / subagentStop → EventKind::Other (Copilot has no blocking stop). Required: toolName
// on tool events, toolArgs.command for a shell preToolUse.
// Output: only a preToolUse deny is honoured: {"permissionDecision":"deny",
// "permissionDecisionReason":…} (ask degrades to deny); allow → {"permissionDecision":"allow"};
// everything else → empty stdout. Exit 0. Unreadable input adds that deny JSON on stdout to the
// usual stderr and exit 2.
#include "hooks/dialect_agents.h"

namespace keel::hooks {

using namespace dutil;

namespace {
void parse(const json::object& o, HookEvent& ev) {
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
  ev.kind = event_kind(e, {{"preToolUse", EventKind::PreToolUse},
                          {"postToolUse", EventKind::PostToolUse},
                          {"postToolUseFailure", EventKind::PostToolUseFailure},
                          {"userPromptSubmitted", EventKind::UserPromptSubmit},
                          {"sessionStart", EventKind::SessionStart},
                          {"sessionEnd", EventKind::SessionEnd}});
  // agentStop and subagentStop stay EventKind::Other: Copilot has no blocking stop, so an oracle
  // or self-check there would run its check for an answer nobody reads.
  ev.session_id = str(o, "sessionId");
  ev.cwd = str(o, "cwd");
  ev.prompt = str(o, "prompt");
  if (ev.prompt.empty()) ev.prompt = str(o, "initialPrompt");
  ev.source = str(o, "source");
  if (ev.kind == EventKind::PreToolUse || ev.kind == EventKind::PostToolUse || ev.kind == EventKind::PostToolUseFailure) {
    std::string tool = required(o, "toolName", ev.dialect);
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
}

RenderResult render(const HookEvent& ev, const HookDecision& d) {
  json::object out;
  if (ev.kind == EventKind::PreToolUse) {
    if (blocks(d)) {
      out["permissionDecision"] = "deny";
      out["permissionDecisionReason"] = degraded_reason(d);
    } else if (d.outcome == Outcome::Allow) {
      out["permissionDecision"] = "allow";
      if (!d.reason.empty()) out["permissionDecisionReason"] = cap(d.reason);
    }
  }
  return {emit(out), {}, 0};
}

RenderResult render_unreadable(std::string_view error) {
  // Copilot acts only on a deny JSON, so the exit code and stderr alone would let the call through.
  RenderResult r{{}, unreadable_input_reason(error) + "\n", 2};  // every agent's answer, plus:
  json::object out;
  out["permissionDecision"] = "deny";
  out["permissionDecisionReason"] = unreadable_input_reason(error);
  r.stdout_text = emit(out);
  return r;
}

}  // namespace

const AgentProtocol kCopilotProtocol{"copilot", parse, render, render_unreadable};

}  // namespace keel::hooks

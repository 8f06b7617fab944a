// dialect_gemini.cpp — Gemini CLI hooks (reference §2.1/§2.2, google-gemini/gemini-cli
// docs/hooks/reference.md). Events: BeforeTool → PreToolUse, AfterTool → PostToolUse (failure
// when tool_response.error is set), AfterAgent → Stop (prompt_response → last message),
// BeforeAgent → UserPromptSubmit, SessionStart, SessionEnd, PreCompress → PreCompact; the rest
// (BeforeModel, AfterModel, Notification, ...) → Other. Tools: run_shell_command, write_file,
// replace, read_file, ... Required: hook_event_name; tool_name on BeforeTool/AfterTool;
// tool_input.command of a shell BeforeTool. Output (exit 0): top-level {"decision":"allow"|"deny","reason"}; no
// "ask" (→ deny, "approval required: ..."); AfterAgent block → {"decision":"deny","reason"};
// updated input → hookSpecificOutput.tool_input (merged by Gemini); additionalContext under
// hookSpecificOutput; "continue":false + "stopReason"; "systemMessage".
#include "hooks/dialect_agents.h"

namespace keel::hooks {

using namespace dutil;

namespace {
void parse(const json::object& o, HookEvent& ev) {
  ev.event_name = required(o, "hook_event_name", ev.dialect);
  const std::string& e = ev.event_name;
  ev.kind = event_kind(e, {{"BeforeTool", EventKind::PreToolUse}, {"AfterTool", EventKind::PostToolUse},
                          {"AfterAgent", EventKind::Stop}, {"BeforeAgent", EventKind::UserPromptSubmit},
                          {"SessionStart", EventKind::SessionStart}, {"SessionEnd", EventKind::SessionEnd},
                          {"PreCompress", EventKind::PreCompact}});
  ev.session_id = str(o, "session_id");
  ev.transcript_path = str(o, "transcript_path");
  ev.cwd = str(o, "cwd");
  ev.prompt = str(o, "prompt");
  ev.source = str(o, "source");
  ev.stop_hook_active = boolean(o, "stop_hook_active");
  ev.last_assistant_message = str(o, "prompt_response");
  if (ev.kind == EventKind::PreToolUse || ev.kind == EventKind::PostToolUse) {
    std::string tool = required(o, "tool_name", ev.dialect);
    set_tool(ev, std::move(tool), object_or_json_string(val(o, "tool_input")));
    require_tool_target(ev, "tool_input");
  }
  if (const json::value* r = val(o, "tool_response")) {
    ev.tool_response = *r;
    if (r->is_object()) {
      const json::value* err = val(r->as_object(), "error");
      if (err && !err->is_null() && !(err->is_string() && err->as_string().empty())) {
        ev.tool_failed = true;
        ev.kind = ev.kind == EventKind::PostToolUse ? EventKind::PostToolUseFailure : ev.kind;
        ev.error = err->is_string() ? std::string(err->as_string()) : json::serialize(*err);
      }
    }
  }
}

RenderResult render(const HookEvent& ev, const HookDecision& d) {
  json::object out, hso;
  const bool blocking = blocks(d);
  switch (ev.kind) {
    case EventKind::PreToolUse:
      if (blocking) {
        out["decision"] = "deny";
        out["reason"] = degraded_reason(d);
      } else if (d.outcome == Outcome::Allow) {
        out["decision"] = "allow";
        if (!d.reason.empty()) out["reason"] = cap(d.reason);
      }
      if (d.updated_input && !blocking) {
        hso["hookEventName"] = ev.event_name;
        hso["tool_input"] = *d.updated_input;
      }
      break;
    case EventKind::PostToolUse:
    case EventKind::PostToolUseFailure:
    case EventKind::Stop:
    case EventKind::UserPromptSubmit:
      if (blocking) {
        out["decision"] = "deny";
        out["reason"] = degraded_reason(d);
      }
      break;
    default:
      break;
  }
  if (!d.additional_context.empty()) {
    hso["hookEventName"] = ev.event_name;
    hso["additionalContext"] = cap(d.additional_context);
  }
  return render_with_common_fields(std::move(out), std::move(hso), d);
}

}  // namespace

const AgentProtocol kGeminiProtocol{"gemini", parse, render};

}  // namespace keel::hooks

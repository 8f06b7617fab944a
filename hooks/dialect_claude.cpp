// dialect_claude.cpp — Claude Code's hook protocol (reference §1), the reference dialect.
//
// Parses SessionStart, UserPromptSubmit, PreToolUse, PermissionRequest, PostToolUse,
// PostToolUseFailure, Stop, SubagentStop, PreCompact, SessionEnd (others → EventKind::Other).
// Required: hook_event_name; tool_name for tool events; tool_input.command (a string, may be "")
// when a PreToolUse or PermissionRequest names a shell tool. Renders exit 0 + JSON:
//   PreToolUse        hookSpecificOutput{hookEventName, permissionDecision allow|deny|ask,
//                     permissionDecisionReason, updatedInput?, additionalContext?}
//   PermissionRequest hookSpecificOutput{hookEventName, decision{behavior allow|deny, message?,
//                     updatedInput?}} (ask → no decision: the dialog shows; a deny has no
//                     "interrupt", so the agent continues without the call)
//   PostToolUse       {"decision":"block","reason"} for deny/ask/block; additionalContext
//   PostToolUseFailure, SessionStart: hookSpecificOutput.additionalContext only
//   Stop/SubagentStop {"decision":"block","reason"}; or hookSpecificOutput.additionalContext
//   UserPromptSubmit, PreCompact {"decision":"block","reason"}
//   any event         "continue":false + "stopReason"; "systemMessage"
// Continue with nothing to say renders as empty stdout, exit 0.
//
// Codex CLI hooks (reference §2.1/§2.2), served here too: Claude's shapes plus turn_id and model;
// transcript_path may be null; PreToolUse fires for Bash/shell (tool_input.command may be
// an argv array), apply_patch (patch text in tool_input.command; its file headers become
// file_paths), unified_exec and MCP tools. Output is Claude's (permissionDecision allow|deny|ask,
// {"decision":"block","reason"} for Stop). keel always exits 0 with JSON: Codex treats exit 2
// with empty stderr as a failure, not a block.
#include "hooks/dialect_agents.h"

namespace keel::hooks {

using namespace dutil;

namespace {
EventKind claude_kind(std::string_view e) {
  return event_kind(e, {{"SessionStart", EventKind::SessionStart}, {"UserPromptSubmit", EventKind::UserPromptSubmit},
                        {"PreToolUse", EventKind::PreToolUse}, {"PermissionRequest", EventKind::PermissionRequest},
                        {"PostToolUse", EventKind::PostToolUse}, {"PostToolUseFailure", EventKind::PostToolUseFailure},
                        {"Stop", EventKind::Stop}, {"SubagentStop", EventKind::SubagentStop},
                        {"PreCompact", EventKind::PreCompact}, {"SessionEnd", EventKind::SessionEnd}});
}

bool is_tool_event(EventKind k) {
  return k == EventKind::PreToolUse || k == EventKind::PermissionRequest || k == EventKind::PostToolUse ||
         k == EventKind::PostToolUseFailure;
}

// Claude's and Codex's (ev.dialect tells them apart in error messages).
void parse(const json::object& o, HookEvent& ev) {
  const std::string& dialect = ev.dialect;
  ev.event_name = required(o, "hook_event_name", dialect);
  ev.kind = claude_kind(ev.event_name);
  ev.session_id = str(o, "session_id");
  ev.transcript_path = str(o, "transcript_path");
  ev.agent_transcript_path = str(o, "agent_transcript_path");
  ev.cwd = str(o, "cwd");
  ev.permission_mode = str(o, "permission_mode");
  ev.agent_id = str(o, "agent_id");
  ev.agent_type = str(o, "agent_type");
  ev.turn_id = str(o, "turn_id");
  ev.tool_use_id = str(o, "tool_use_id");
  ev.model = str(o, "model");
  ev.prompt = str(o, "prompt");
  ev.source = str(o, "source");
  ev.stop_hook_active = boolean(o, "stop_hook_active");
  ev.last_assistant_message = str(o, "last_assistant_message");
  if (is_tool_event(ev.kind)) {
    std::string tool = required(o, "tool_name", dialect);
    set_tool(ev, std::move(tool), object_or_json_string(val(o, "tool_input")));
    require_tool_target(ev, "tool_input");
  }
  if (const json::value* r = val(o, "tool_response")) ev.tool_response = *r;
  ev.error = str(o, "error");
  ev.is_interrupt = boolean(o, "is_interrupt");
  ev.tool_failed = ev.kind == EventKind::PostToolUseFailure;
}

RenderResult render(const HookEvent& ev, const HookDecision& d) {
  json::object out;
  json::object hso;
  const Outcome oc = d.outcome;
  const bool blocking = blocks(d);
  auto block = [&] {
    out["decision"] = "block";
    out["reason"] = reason_or_default(d);
  };
  std::string ctx = d.additional_context.empty() ? std::string() : cap(d.additional_context);
  switch (ev.kind) {
    case EventKind::PreToolUse: {
      if (oc != Outcome::Continue || d.updated_input || !ctx.empty()) {
        hso["hookEventName"] = "PreToolUse";
        if (oc != Outcome::Continue) {
          hso["permissionDecision"] = oc == Outcome::Allow ? "allow" : oc == Outcome::Ask ? "ask" : "deny";
          if (!d.reason.empty() || oc != Outcome::Allow) hso["permissionDecisionReason"] = reason_or_default(d);
        }
        if (d.updated_input && oc != Outcome::Deny && oc != Outcome::BlockStop) hso["updatedInput"] = *d.updated_input;
        if (!ctx.empty()) hso["additionalContext"] = ctx;
      }
      break;
    }
    case EventKind::PermissionRequest: {
      if (oc == Outcome::Allow || oc == Outcome::Deny || oc == Outcome::BlockStop) {
        json::object dec;
        dec["behavior"] = oc == Outcome::Allow ? "allow" : "deny";
        // No "interrupt":true on a deny: keel refuses this one call and the agent carries on with
        // the message as feedback, as a PreToolUse deny does; interrupting would end the turn.
        if (oc != Outcome::Allow) dec["message"] = reason_or_default(d);
        if (oc == Outcome::Allow && d.updated_input) dec["updatedInput"] = *d.updated_input;
        hso["hookEventName"] = "PermissionRequest";
        hso["decision"] = std::move(dec);
      }
      break;
    }
    case EventKind::PostToolUse:
      if (blocking) block();
      if (!ctx.empty()) {
        hso["hookEventName"] = "PostToolUse";
        hso["additionalContext"] = ctx;
      }
      break;
    case EventKind::PostToolUseFailure: {
      std::string text = ctx;
      if (blocking) text = reason_or_default(d) + (text.empty() ? "" : "\n" + text);
      if (!text.empty()) {
        hso["hookEventName"] = "PostToolUseFailure";
        hso["additionalContext"] = cap(text);
      }
      break;
    }
    case EventKind::Stop:
    case EventKind::SubagentStop:
    case EventKind::UserPromptSubmit:
    case EventKind::PreCompact:
      if (blocking) block();
      if (!ctx.empty() && ev.kind != EventKind::PreCompact) {
        hso["hookEventName"] = ev.event_name.empty() ? std::string(to_string(ev.kind)) : ev.event_name;
        hso["additionalContext"] = ctx;
      }
      break;
    case EventKind::SessionStart:
      if (!ctx.empty()) {
        hso["hookEventName"] = "SessionStart";
        hso["additionalContext"] = ctx;
      }
      break;
    case EventKind::SessionEnd:
    case EventKind::Other:
      break;
  }
  return render_with_common_fields(std::move(out), std::move(hso), d);
}
}  // namespace

const AgentProtocol kClaudeProtocol{"claude", parse, render};
const AgentProtocol kCodexProtocol{"codex", parse, render};

}  // namespace keel::hooks

// dialect_claude.cpp — see dialect_claude.h.
#include "hooks/dialect_claude.h"

#include "hooks/dialect_util.h"

namespace keel::hooks {

using namespace dutil;

namespace {
EventKind claude_kind(std::string_view e) {
  if (e == "SessionStart") return EventKind::SessionStart;
  if (e == "UserPromptSubmit") return EventKind::UserPromptSubmit;
  if (e == "PreToolUse") return EventKind::PreToolUse;
  if (e == "PermissionRequest") return EventKind::PermissionRequest;
  if (e == "PostToolUse") return EventKind::PostToolUse;
  if (e == "PostToolUseFailure") return EventKind::PostToolUseFailure;
  if (e == "Stop") return EventKind::Stop;
  if (e == "SubagentStop") return EventKind::SubagentStop;
  if (e == "PreCompact") return EventKind::PreCompact;
  if (e == "SessionEnd") return EventKind::SessionEnd;
  return EventKind::Other;
}

bool is_tool_event(EventKind k) {
  return k == EventKind::PreToolUse || k == EventKind::PermissionRequest || k == EventKind::PostToolUse ||
         k == EventKind::PostToolUseFailure;
}
}  // namespace

HookEvent ClaudeDialect::parse(std::string_view in) const {
  return parse_object(dutil::parse_object(in, name()), name());
}

HookEvent ClaudeDialect::parse_object(json::object o, std::string_view dialect) const {
  HookEvent ev;
  ev.dialect = std::string(dialect);
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
  ev.raw = std::move(o);
  return ev;
}

RenderResult ClaudeDialect::render(const HookEvent& ev, const HookDecision& d) const {
  json::object out;
  json::object hso;
  const Outcome oc = d.outcome;
  const bool blocking = oc == Outcome::Deny || oc == Outcome::Ask || oc == Outcome::BlockStop;
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
      if (blocking) {
        out["decision"] = "block";
        out["reason"] = reason_or_default(d);
      }
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
      if (blocking) {
        out["decision"] = "block";
        out["reason"] = reason_or_default(d);
      }
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
  if (!hso.empty()) out["hookSpecificOutput"] = std::move(hso);
  if (!d.continue_) {
    out["continue"] = false;
    out["stopReason"] = stop_reason_or_default(d);
  }
  if (!d.system_message.empty()) out["systemMessage"] = cap(d.system_message);
  return {emit(out), {}, 0};
}

}  // namespace keel::hooks

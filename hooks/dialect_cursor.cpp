// dialect_cursor.cpp — Cursor agent hooks (reference §2.1/§2.2, cursor.com/docs/agent/hooks).
// Input: hook_event_name, conversation_id (→ session_id), generation_id (→ turn_id),
// workspace_roots[] (first → cwd unless cwd is given), cursor_version. Events:
//   beforeShellExecution (command, cwd) → PreToolUse tool "Shell"
//   beforeMCPExecution (tool_name, tool_input JSON string) → PreToolUse tool "MCP:<tool>"
//   beforeReadFile (file_path) → PreToolUse tool "Read"; preToolUse (newer) → PreToolUse
//   afterShellExecution / afterMCPExecution / afterFileEdit / postToolUse → PostToolUse
//   postToolUseFailure; stop (status, loop_count) → Stop, subagentStop → SubagentStop, when
//   status is "completed" or absent ("aborted" / "error" → Other: no stop policy runs);
//   beforeSubmitPrompt → UserPromptSubmit; sessionStart / sessionEnd / preCompact.
// Required besides hook_event_name: command (beforeShellExecution, may be ""), tool_name
// (MCP and tool events), tool_input.command of a shell preToolUse, file_path (beforeReadFile).
// Output (exit 0, always a JSON object, since hooks may be configured failClosed):
//   before*/preToolUse  {"permission":"allow"|"deny"|"ask","user_message","agent_message"}
//                       (+"updated_input" for preToolUse); Continue → {}
//   stop/subagentStop   {"followup_message": reason} to keep going (deny/ask/block; ask has the
//                       "approval required: " prefix); else {}
//   beforeSubmitPrompt  {"continue":false,"user_message"} to block or stop; else {"continue":true}
//   other events        {}
#include "hooks/dialect_agents.h"

namespace keel::hooks {

using namespace dutil;

namespace {
void parse(const json::object& o, HookEvent& ev) {
  ev.event_name = required(o, "hook_event_name", ev.dialect);
  read_ids(o, ev, "conversation_id", "generation_id", "model");
  if (ev.session_id.empty()) ev.session_id = str(o, "session_id");
  ev.cwd = str(o, "cwd");
  if (ev.cwd.empty())
    if (const json::value* r = val(o, "workspace_roots"); r && r->is_array() && !r->as_array().empty() &&
                                                         r->as_array()[0].is_string())
      ev.cwd = std::string(r->as_array()[0].as_string());
  ev.transcript_path = str(o, "transcript_path");
  const std::string& e = ev.event_name;
  if (e == "beforeShellExecution" || e == "afterShellExecution") {
    ev.kind = e[0] == 'b' ? EventKind::PreToolUse : EventKind::PostToolUse;
    json::object input;
    // The command is what the gate judges: a beforeShellExecution without one is unreadable.
    input["command"] = ev.kind == EventKind::PreToolUse ? required_text(o, "command", ev.dialect) : str(o, "command");
    if (!str(o, "cwd").empty()) input["cwd"] = str(o, "cwd");
    set_tool(ev, "Shell", std::move(input));
    if (const json::value* out = val(o, "output")) ev.tool_response = *out;
  } else if (e == "beforeMCPExecution" || e == "afterMCPExecution") {
    ev.kind = e[0] == 'b' ? EventKind::PreToolUse : EventKind::PostToolUse;
    std::string tool = required(o, "tool_name", ev.dialect);
    if (!tool.starts_with("MCP:") && !tool.starts_with("mcp__")) tool = "MCP:" + tool;
    set_tool(ev, std::move(tool), object_or_json_string(val(o, "tool_input")));
    if (const json::value* r = val(o, "result_json")) ev.tool_response = *r;
  } else if (e == "beforeReadFile") {
    ev.kind = EventKind::PreToolUse;
    json::object input;
    input["file_path"] = required(o, "file_path", ev.dialect);
    set_tool(ev, "Read", std::move(input));
  } else if (e == "afterFileEdit") {
    ev.kind = EventKind::PostToolUse;
    json::object input;
    input["file_path"] = str(o, "file_path");
    if (const json::value* ed = val(o, "edits")) input["edits"] = *ed;
    set_tool(ev, "Edit", std::move(input));
  } else if (e == "preToolUse" || e == "postToolUse" || e == "postToolUseFailure") {
    ev.kind = e == "preToolUse" ? EventKind::PreToolUse
              : e == "postToolUse" ? EventKind::PostToolUse
                                   : EventKind::PostToolUseFailure;
    set_tool(ev, required(o, "tool_name", ev.dialect), object_or_json_string(val(o, "tool_input")));
    require_tool_target(ev, "tool_input");
    if (const json::value* r = val(o, "tool_output")) ev.tool_response = *r;
    ev.error = str(o, "error");
    ev.tool_failed = ev.kind == EventKind::PostToolUseFailure;
  } else if (e == "stop" || e == "subagentStop") {
    // Only a completed turn is a stop the oracle and the self-check may refuse: after "aborted"
    // (the user stopped it) or "error" a followup_message would restart work nobody asked for.
    const std::string status = str(o, "status");
    const bool completed = status.empty() || status == "completed";
    ev.kind = !completed ? EventKind::Other : e == "stop" ? EventKind::Stop : EventKind::SubagentStop;
    ev.loop_count = static_cast<int>(integer(o, "loop_count"));
    ev.stop_hook_active = ev.loop_count > 0;
    ev.source = status;
  } else if (e == "beforeSubmitPrompt") {
    ev.kind = EventKind::UserPromptSubmit;
    ev.prompt = str(o, "prompt");
  } else if (e == "sessionStart") {
    ev.kind = EventKind::SessionStart;
  } else if (e == "sessionEnd") {
    ev.kind = EventKind::SessionEnd;
  } else if (e == "preCompact") {
    ev.kind = EventKind::PreCompact;
  }
}

RenderResult render(const HookEvent& ev, const HookDecision& d) {
  json::object out;
  const Outcome oc = d.outcome;
  const bool blocking = blocks(d);
  switch (ev.kind) {
    case EventKind::PreToolUse:
    case EventKind::PermissionRequest:
      if (oc != Outcome::Continue) {
        out["permission"] = oc == Outcome::Allow ? "allow" : oc == Outcome::Ask ? "ask" : "deny";
        if (oc != Outcome::Allow || !d.reason.empty()) {
          std::string r = reason_or_default(d);
          out["user_message"] = r;
          out["agent_message"] = r;
        }
      }
      if (d.updated_input && !blocking && ev.event_name == "preToolUse") out["updated_input"] = *d.updated_input;
      break;
    case EventKind::Stop:
    case EventKind::SubagentStop:
      if (blocking) out["followup_message"] = degraded_reason(d);
      break;
    case EventKind::UserPromptSubmit:
      out["continue"] = !blocking && d.continue_;
      if (blocking) out["user_message"] = degraded_reason(d);
      else if (!d.continue_) out["user_message"] = stop_reason_or_default(d);
      break;
    default:
      break;
  }
  std::string text = out.empty() ? std::string("{}\n") : emit(out);
  return {text, {}, 0};
}

}  // namespace

const AgentProtocol kCursorProtocol{"cursor", parse, render};

}  // namespace keel::hooks

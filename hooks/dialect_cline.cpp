// dialect_cline.cpp — Cline hooks (reference §2.1/§2.2, cline/cline hook-reference.mdx).
// Input: camelCase and nested: clineVersion, hookName (PreToolUse, PostToolUse,
// UserPromptSubmit, TaskStart, TaskResume, TaskCancel, TaskComplete, PreCompact), timestamp,
// taskId (→ session_id), workspaceRoots[] (first → cwd), userId, and a per-event object:
// preToolUse{toolName, parameters}, postToolUse{toolName, parameters, result, success,
// executionTimeMs}, userPromptSubmit{prompt}, taskComplete{...}. Tools: execute_command,
// write_to_file, replace_in_file, read_file, use_mcp_tool, ... Required: the per-event object
// and its toolName on tool events, parameters.command of a shell PreToolUse.
// Cline is fail-closed (crash, bad JSON or timeout block), so render always prints one JSON
// object and exits 0: {"cancel":bool,"errorMessage"?,"contextModification"?}. Deny, ask (no
// native ask) and stop-blocks set cancel:true with the reason.
#include "hooks/dialect_agents.h"

namespace keel::hooks {

using namespace dutil;

namespace {
void parse(const json::object& o, HookEvent& ev) {
  ev.event_name = str(o, "hookName");
  if (ev.event_name.empty()) ev.event_name = required(o, "hook_event_name", ev.dialect);
  ev.session_id = str(o, "taskId");
  if (const json::value* r = val(o, "workspaceRoots"); r && r->is_array() && !r->as_array().empty() &&
                                                      r->as_array()[0].is_string())
    ev.cwd = std::string(r->as_array()[0].as_string());
  const std::string& e = ev.event_name;
  auto tool_from = [&](std::string_view key) {
    const json::object* t = &required_object(o, key, ev.dialect);
    set_tool(ev, required(*t, "toolName", ev.dialect, std::string(key) + ".toolName"),
             object_or_json_string(val(*t, "parameters")));
    require_tool_target(ev, std::string(key) + ".parameters");
    return t;
  };
  if (e == "PreToolUse") {
    ev.kind = EventKind::PreToolUse;
    tool_from("preToolUse");
  } else if (e == "PostToolUse") {
    ev.kind = EventKind::PostToolUse;
    const json::object* t = tool_from("postToolUse");
    if (const json::value* r = val(*t, "result")) ev.tool_response = *r;
    if (const json::value* s = val(*t, "success"); s && s->is_bool() && !s->as_bool()) {
      ev.tool_failed = true;
      ev.kind = EventKind::PostToolUseFailure;
      ev.error = str(*t, "result");
    }
  } else if (e == "UserPromptSubmit") {
    ev.kind = EventKind::UserPromptSubmit;
    if (const json::object* u = obj(o, "userPromptSubmit")) ev.prompt = str(*u, "prompt");
  } else if (e == "TaskComplete") {
    ev.kind = EventKind::Stop;
  } else if (e == "TaskStart" || e == "TaskResume") {
    ev.kind = EventKind::SessionStart;
    ev.source = e == "TaskStart" ? "startup" : "resume";
  } else if (e == "TaskCancel") {
    ev.kind = EventKind::SessionEnd;
  } else if (e == "PreCompact") {
    ev.kind = EventKind::PreCompact;
  }
}

// Cline answers every event the same way: cancel or go on.
RenderResult render(const HookEvent& /*ev*/, const HookDecision& d) {
  json::object out;
  bool blocking = blocks(d);
  out["cancel"] = blocking || !d.continue_;
  if (blocking) out["errorMessage"] = degraded_reason(d);
  else if (!d.continue_) out["errorMessage"] = stop_reason_or_default(d);
  std::string ctx = d.additional_context;
  if (d.outcome == Outcome::BlockStop && ctx.empty()) ctx = d.reason;
  if (!ctx.empty()) out["contextModification"] = cap(ctx);
  return {emit(out), {}, 0};
}

}  // namespace

const AgentProtocol kClineProtocol{"cline", parse, render};

}  // namespace keel::hooks

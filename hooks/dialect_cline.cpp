// dialect_cline.cpp — see dialect_cline.h.
#include "hooks/dialect_cline.h"

#include "hooks/dialect_util.h"

namespace keel::hooks {

using namespace dutil;

HookEvent ClineDialect::parse(std::string_view in) const {
  json::object o = dutil::parse_object(in, name());
  HookEvent ev;
  ev.dialect = "cline";
  ev.event_name = str(o, "hookName");
  if (ev.event_name.empty()) ev.event_name = required(o, "hook_event_name", name());
  ev.session_id = str(o, "taskId");
  if (const json::value* r = val(o, "workspaceRoots"); r && r->is_array() && !r->as_array().empty() &&
                                                      r->as_array()[0].is_string())
    ev.cwd = std::string(r->as_array()[0].as_string());
  const std::string& e = ev.event_name;
  auto tool_from = [&](std::string_view key) {
    const json::object* t = &required_object(o, key, name());
    set_tool(ev, required(*t, "toolName", name(), std::string(key) + ".toolName"),
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
  ev.raw = std::move(o);
  return ev;
}

RenderResult ClineDialect::render(const HookEvent& ev, const HookDecision& d) const {
  (void)ev;
  json::object out;
  bool blocking = d.outcome == Outcome::Deny || d.outcome == Outcome::Ask || d.outcome == Outcome::BlockStop;
  out["cancel"] = blocking || !d.continue_;
  if (blocking) out["errorMessage"] = degraded_reason(d);
  else if (!d.continue_) out["errorMessage"] = stop_reason_or_default(d);
  std::string ctx = d.additional_context;
  if (d.outcome == Outcome::BlockStop && ctx.empty()) ctx = d.reason;
  if (!ctx.empty()) out["contextModification"] = cap(ctx);
  return {emit(out), {}, 0};
}

}  // namespace keel::hooks

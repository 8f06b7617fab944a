// dialect_gemini.cpp — see dialect_gemini.h.
#include "hooks/dialect_gemini.h"

#include "hooks/dialect_util.h"

namespace keel::hooks {

using namespace dutil;

HookEvent GeminiDialect::parse(std::string_view in) const {
  json::object o = dutil::parse_object(in, name());
  HookEvent ev;
  ev.dialect = "gemini";
  ev.event_name = required(o, "hook_event_name", name());
  const std::string& e = ev.event_name;
  if (e == "BeforeTool") ev.kind = EventKind::PreToolUse;
  else if (e == "AfterTool") ev.kind = EventKind::PostToolUse;
  else if (e == "AfterAgent") ev.kind = EventKind::Stop;
  else if (e == "BeforeAgent") ev.kind = EventKind::UserPromptSubmit;
  else if (e == "SessionStart") ev.kind = EventKind::SessionStart;
  else if (e == "SessionEnd") ev.kind = EventKind::SessionEnd;
  else if (e == "PreCompress") ev.kind = EventKind::PreCompact;
  ev.session_id = str(o, "session_id");
  ev.transcript_path = str(o, "transcript_path");
  ev.cwd = str(o, "cwd");
  ev.prompt = str(o, "prompt");
  ev.source = str(o, "source");
  ev.stop_hook_active = boolean(o, "stop_hook_active");
  ev.last_assistant_message = str(o, "prompt_response");
  if (ev.kind == EventKind::PreToolUse || ev.kind == EventKind::PostToolUse) {
    std::string tool = required(o, "tool_name", name());
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
  ev.raw = std::move(o);
  return ev;
}

RenderResult GeminiDialect::render(const HookEvent& ev, const HookDecision& d) const {
  json::object out;
  json::object hso;
  const Outcome oc = d.outcome;
  const bool blocking = oc == Outcome::Deny || oc == Outcome::Ask || oc == Outcome::BlockStop;
  std::string ctx = d.additional_context.empty() ? std::string() : cap(d.additional_context);
  switch (ev.kind) {
    case EventKind::PreToolUse:
      if (blocking) {
        out["decision"] = "deny";
        out["reason"] = degraded_reason(d);
      } else if (oc == Outcome::Allow) {
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
  if (!ctx.empty()) {
    hso["hookEventName"] = ev.event_name;
    hso["additionalContext"] = ctx;
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

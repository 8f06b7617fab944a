// dialect_windsurf.cpp — see dialect_windsurf.h.
#include "hooks/dialect_windsurf.h"

#include "hooks/dialect_util.h"

namespace keel::hooks {

using namespace dutil;

HookEvent WindsurfDialect::parse(std::string_view in) const {
  json::object o = dutil::parse_object(in, name());
  HookEvent ev;
  ev.dialect = "windsurf";
  ev.event_name = required(o, "agent_action_name", name());
  ev.session_id = str(o, "trajectory_id");
  ev.turn_id = str(o, "execution_id");
  ev.model = str(o, "model_name");
  const std::string& e = ev.event_name;
  const bool pre = e.starts_with("pre_");
  // A pre hook is a gate: without tool_info there is nothing to judge, so the input is unreadable.
  json::object info;
  if (pre) info = required_object(o, "tool_info", name());
  else if (const json::object* ti = obj(o, "tool_info")) info = *ti;
  std::string_view what = std::string_view(e).substr(pre ? 4 : e.starts_with("post_") ? 5 : 0);
  if (what == "run_command" || what == "write_code" || what == "read_code" || what == "mcp_tool_use") {
    ev.kind = pre ? EventKind::PreToolUse : EventKind::PostToolUse;
    if (what == "run_command") {
      json::object input;
      input["command"] = pre ? required_text(info, "command_line", name(), "tool_info.command_line")
                             : str(info, "command_line");
      ev.cwd = str(info, "cwd");
      if (!ev.cwd.empty()) input["cwd"] = ev.cwd;
      set_tool(ev, "run_command", std::move(input));
    } else if (what == "write_code" || what == "read_code") {
      json::object input;
      input["file_path"] = pre ? required(info, "file_path", name(), "tool_info.file_path") : str(info, "file_path");
      if (const json::value* ed = val(info, "edits")) input["edits"] = *ed;
      set_tool(ev, std::string(what), std::move(input));
    } else {
      // The names are the tool's identity (like tool_name elsewhere): never "mcp____".
      const std::string server = required(info, "mcp_server_name", name(), "tool_info.mcp_server_name");
      const std::string tool = required(info, "mcp_tool_name", name(), "tool_info.mcp_tool_name");
      set_tool(ev, "mcp__" + server + "__" + tool, object_or_json_string(val(info, "mcp_tool_arguments")));
    }
  } else if (e == "pre_user_prompt") {
    ev.kind = EventKind::UserPromptSubmit;
    ev.prompt = str(info, "user_prompt");
  } else if (e == "post_cascade_response") {
    // Stays EventKind::Other: Windsurf's response hook is advisory and cannot keep Cascade
    // working, so the oracle and the self-check have nothing to refuse here.
    ev.last_assistant_message = str(info, "response");
  }
  ev.tool_response = info;
  ev.raw = std::move(o);
  return ev;
}

RenderResult WindsurfDialect::render(const HookEvent& ev, const HookDecision& d) const {
  RenderResult r;
  bool pre = ev.kind == EventKind::PreToolUse || ev.kind == EventKind::UserPromptSubmit;
  bool blocking = d.outcome == Outcome::Deny || d.outcome == Outcome::Ask || d.outcome == Outcome::BlockStop;
  if (pre && (blocking || !d.continue_)) {
    r.exit_code = 2;
    r.stderr_text = (blocking ? degraded_reason(d) : stop_reason_or_default(d)) + "\n";
  }
  return r;
}

}  // namespace keel::hooks

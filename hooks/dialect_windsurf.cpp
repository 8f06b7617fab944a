// dialect_windsurf.cpp — Windsurf (Cascade) hooks (reference §2.1/§2.2).
// Input: agent_action_name, trajectory_id (→ session_id), execution_id (→ turn_id), timestamp,
// model_name, tool_info{...}:
//   pre_run_command / post_run_command   tool_info{command_line, cwd}   → tool "run_command"
//   pre_write_code / post_write_code     tool_info{file_path, edits[]}  → tool "write_code"
//   pre_read_code / post_read_code       tool_info{file_path}           → tool "read_code"
//   pre_mcp_tool_use / post_mcp_tool_use tool_info{mcp_server_name, mcp_tool_name,
//                                        mcp_tool_arguments}          → "mcp__<server>__<tool>"
//   pre_user_prompt                      tool_info{user_prompt}         → UserPromptSubmit
//   post_cascade_response                tool_info{response}            → Other (advisory:
//                                        no stop policy runs; the response → last message)
// Required on pre_* events: tool_info, and its command_line (may be ""), file_path, or
// mcp_server_name + mcp_tool_name; the MCP names on post_mcp_tool_use too.
// Output: no JSON decisions and no "ask": a pre-hook block is exit 2 with the reason on stderr
// (ask degrades to block); everything else exits 0 with no output.
#include "hooks/dialect_agents.h"

namespace keel::hooks {

using namespace dutil;

namespace {
void parse(const json::object& o, HookEvent& ev) {
  ev.event_name = required(o, "agent_action_name", ev.dialect);
  read_ids(o, ev, "trajectory_id", "execution_id", "model_name");
  const std::string& e = ev.event_name;
  const bool pre = e.starts_with("pre_");
  // A pre hook is a gate: without tool_info there is nothing to judge, so the input is unreadable.
  json::object info;
  if (pre) info = required_object(o, "tool_info", ev.dialect);
  else if (const json::object* ti = obj(o, "tool_info")) info = *ti;
  std::string_view what = std::string_view(e).substr(pre ? 4 : e.starts_with("post_") ? 5 : 0);
  if (what == "run_command" || what == "write_code" || what == "read_code" || what == "mcp_tool_use") {
    ev.kind = pre ? EventKind::PreToolUse : EventKind::PostToolUse;
    if (what == "run_command") {
      json::object input;
      input["command"] = pre ? required_text(info, "command_line", ev.dialect, "tool_info.command_line")
                             : str(info, "command_line");
      ev.cwd = str(info, "cwd");
      if (!ev.cwd.empty()) input["cwd"] = ev.cwd;
      set_tool(ev, "run_command", std::move(input));
    } else if (what == "write_code" || what == "read_code") {
      json::object input;
      input["file_path"] = pre ? required(info, "file_path", ev.dialect, "tool_info.file_path") : str(info, "file_path");
      if (const json::value* ed = val(info, "edits")) input["edits"] = *ed;
      set_tool(ev, std::string(what), std::move(input));
    } else {
      // The names are the tool's identity (like tool_name elsewhere): never "mcp____".
      const std::string server = required(info, "mcp_server_name", ev.dialect, "tool_info.mcp_server_name");
      const std::string tool = required(info, "mcp_tool_name", ev.dialect, "tool_info.mcp_tool_name");
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
}

RenderResult render(const HookEvent& ev, const HookDecision& d) {
  RenderResult r;
  bool pre = ev.kind == EventKind::PreToolUse || ev.kind == EventKind::UserPromptSubmit;
  bool blocking = blocks(d);
  if (pre && (blocking || !d.continue_)) {
    r.exit_code = 2;
    r.stderr_text = (blocking ? degraded_reason(d) : stop_reason_or_default(d)) + "\n";
  }
  return r;
}

}  // namespace

const AgentProtocol kWindsurfProtocol{"windsurf", parse, render};

}  // namespace keel::hooks

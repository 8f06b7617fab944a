// dialect_windsurf.h — Windsurf (Cascade) hooks (reference §2.1/§2.2).
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
#pragma once

#include "hooks/dialect.h"

namespace keel::hooks {

class WindsurfDialect : public Dialect {
 public:
  std::string_view name() const noexcept override { return "windsurf"; }
  HookEvent parse(std::string_view stdin_json) const override;
  RenderResult render(const HookEvent& ev, const HookDecision& dec) const override;
};

}  // namespace keel::hooks

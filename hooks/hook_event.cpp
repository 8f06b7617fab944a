// hook_event.cpp — names and the tool-name canonicalisation table for hook_event.h.
#include "hooks/hook_event.h"

#include <array>
#include <utility>

namespace keel::hooks {

std::string_view to_string(EventKind k) noexcept {
  switch (k) {
    case EventKind::SessionStart: return "SessionStart";
    case EventKind::UserPromptSubmit: return "UserPromptSubmit";
    case EventKind::PreToolUse: return "PreToolUse";
    case EventKind::PermissionRequest: return "PermissionRequest";
    case EventKind::PostToolUse: return "PostToolUse";
    case EventKind::PostToolUseFailure: return "PostToolUseFailure";
    case EventKind::Stop: return "Stop";
    case EventKind::SubagentStop: return "SubagentStop";
    case EventKind::PreCompact: return "PreCompact";
    case EventKind::SessionEnd: return "SessionEnd";
    case EventKind::Other: return "Other";
  }
  return "Other";
}

std::string_view to_string(ToolKind k) noexcept {
  switch (k) {
    case ToolKind::None: return "None";
    case ToolKind::Shell: return "Shell";
    case ToolKind::Write: return "Write";
    case ToolKind::Edit: return "Edit";
    case ToolKind::Read: return "Read";
    case ToolKind::Delete: return "Delete";
    case ToolKind::Glob: return "Glob";
    case ToolKind::Grep: return "Grep";
    case ToolKind::WebFetch: return "WebFetch";
    case ToolKind::WebSearch: return "WebSearch";
    case ToolKind::Agent: return "Agent";
    case ToolKind::Mcp: return "Mcp";
    case ToolKind::Other: return "Other";
  }
  return "Other";
}

std::string_view to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::Continue: return "continue";
    case Outcome::Allow: return "allow";
    case Outcome::Ask: return "ask";
    case Outcome::Deny: return "deny";
    case Outcome::BlockStop: return "block-stop";
  }
  return "continue";
}

int severity(Outcome o) noexcept {
  switch (o) {
    case Outcome::Continue: return 0;
    case Outcome::Allow: return 1;
    case Outcome::Ask: return 2;
    case Outcome::Deny: return 3;
    case Outcome::BlockStop: return 3;
  }
  return 0;
}

namespace {
constexpr std::array<std::pair<std::string_view, ToolKind>, 64> kTools{{
    {"Bash", ToolKind::Shell}, {"PowerShell", ToolKind::Shell}, {"powershell", ToolKind::Shell},
    {"shell", ToolKind::Shell}, {"Shell", ToolKind::Shell}, {"bash", ToolKind::Shell},
    {"run_shell_command", ToolKind::Shell}, {"execute_command", ToolKind::Shell},
    {"run_command", ToolKind::Shell}, {"exec_command", ToolKind::Shell},
    {"unified_exec", ToolKind::Shell}, {"local_shell", ToolKind::Shell},
    {"container.exec", ToolKind::Shell}, {"runInTerminal", ToolKind::Shell},
    {"run_in_terminal", ToolKind::Shell}, {"execute_bash", ToolKind::Shell},
    {"Write", ToolKind::Write}, {"write_file", ToolKind::Write}, {"create", ToolKind::Write},
    {"write_to_file", ToolKind::Write}, {"create_file", ToolKind::Write},
    {"createFile", ToolKind::Write}, {"fs_write", ToolKind::Write},
    {"Edit", ToolKind::Edit}, {"MultiEdit", ToolKind::Edit}, {"edit", ToolKind::Edit},
    {"replace", ToolKind::Edit}, {"replace_in_file", ToolKind::Edit},
    {"str_replace", ToolKind::Edit}, {"StrReplace", ToolKind::Edit},
    {"apply_patch", ToolKind::Edit}, {"editFiles", ToolKind::Edit},
    {"edit_file", ToolKind::Edit}, {"NotebookEdit", ToolKind::Edit},
    {"str_replace_editor", ToolKind::Edit},
    {"Read", ToolKind::Read}, {"read_file", ToolKind::Read}, {"view", ToolKind::Read},
    {"read_many_files", ToolKind::Read}, {"readFile", ToolKind::Read},
    {"fs_read", ToolKind::Read},
    {"Delete", ToolKind::Delete}, {"delete_file", ToolKind::Delete},
    {"Glob", ToolKind::Glob}, {"glob", ToolKind::Glob}, {"list_files", ToolKind::Glob},
    {"list_directory", ToolKind::Glob}, {"LS", ToolKind::Glob},
    {"Grep", ToolKind::Grep}, {"grep", ToolKind::Grep},
    {"search_file_content", ToolKind::Grep}, {"search_files", ToolKind::Grep},
    {"WebFetch", ToolKind::WebFetch}, {"web_fetch", ToolKind::WebFetch},
    {"fetch", ToolKind::WebFetch},
    {"WebSearch", ToolKind::WebSearch}, {"google_web_search", ToolKind::WebSearch},
    {"web_search", ToolKind::WebSearch},
    {"Agent", ToolKind::Agent}, {"Task", ToolKind::Agent},
    {"write_code", ToolKind::Edit}, {"read_code", ToolKind::Read},
    {"use_mcp_tool", ToolKind::Mcp}, {"access_mcp_resource", ToolKind::Mcp},
}};
}  // namespace

ToolKind canonical_tool(std::string_view name) noexcept {
  if (name.empty()) return ToolKind::None;
  for (const auto& [n, k] : kTools)
    if (n == name) return k;
  if (name.starts_with("mcp__") || name.starts_with("MCP:") || name.starts_with("@"))
    return ToolKind::Mcp;
  return ToolKind::Other;
}

bool is_powershell_tool(std::string_view name) noexcept {
  return name == "PowerShell" || name == "powershell" || name == "pwsh";
}

}  // namespace keel::hooks

// hook_event.cpp — names and the tool-name canonicalisation table for hook_event.h.
#include "hooks/hook_event.h"

#include <array>
#include <utility>

namespace keel::hooks {

namespace {
// Indexed by the enumerators, which are declared in this order (hook_event.h).
constexpr std::array<std::string_view, 11> kEventNames{
    "SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse",
    "PostToolUseFailure", "Stop", "SubagentStop", "PreCompact", "SessionEnd", "Other"};
constexpr std::array<std::string_view, 13> kToolKindNames{
    "None", "Shell", "Write", "Edit", "Read", "Delete", "Glob",
    "Grep", "WebFetch", "WebSearch", "Agent", "Mcp", "Other"};
static_assert(static_cast<std::size_t>(EventKind::Other) + 1 == kEventNames.size());
static_assert(static_cast<std::size_t>(ToolKind::Other) + 1 == kToolKindNames.size());

template <std::size_t N>
std::string_view name_at(const std::array<std::string_view, N>& names, std::size_t i) noexcept {
  return i < N ? names[i] : names[N - 1];
}
}  // namespace

std::string_view to_string(EventKind k) noexcept {
  return name_at(kEventNames, static_cast<std::size_t>(k));
}

std::string_view to_string(ToolKind k) noexcept {
  return name_at(kToolKindNames, static_cast<std::size_t>(k));
}

std::string_view to_string(Outcome o) noexcept {
  constexpr std::array<std::string_view, 5> kNames{"continue", "allow", "ask", "deny", "block-stop"};
  const auto i = static_cast<std::size_t>(o);
  return i < kNames.size() ? kNames[i] : kNames[0];
}

int severity(Outcome o) noexcept {
  // Deny and BlockStop weigh the same: each refuses what the agent is about to do.
  constexpr std::array<int, 5> kSeverity{0, 1, 2, 3, 3};
  const auto i = static_cast<std::size_t>(o);
  return i < kSeverity.size() ? kSeverity[i] : 0;
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

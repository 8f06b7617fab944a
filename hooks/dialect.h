// dialect.h — the adapter interface between one agent's hook JSON and keel's canonical
// HookEvent / HookDecision (reference: agent-hooks.md §1, §2).
//
// Contract for every Dialect:
//   parse(stdin_json)  → HookEvent. Throws HookInputError (message names the problem, the
//                        dialect and the field) when the input is not a JSON object, exceeds
//                        kMaxHookInput, or lacks a core field: the event name; the tool name of
//                        a tool event (an MCP tool's server and tool names); on the events the
//                        permission gate judges, a shell tool's command (a string; "" is allowed)
//                        and a file tool's path (not apply_patch's, which the patch names) — a
//                        missing core field must fail like unparseable input, never reach the
//                        gate or the lease gate as "nothing to judge". Unknown fields are ignored; optional
//                        fields may be absent or of an unexpected type (then treated as absent).
//                        JSON-in-a-string arguments (Copilot toolArgs, Cursor tool_input) are
//                        decoded.
//   render(ev, dec)    → what `keel hook` prints and its exit code, in that agent's convention.
//                        Never throws. Text fields are capped at 10,000 characters.
//   render_unreadable(error) → what `keel hook` answers, and POST /hooks/<dialect> mirrors, when
//                        parse() threw and the permission gate fails closed: the reason
//                        (unreadable_input_reason) on stderr and exit 2, the block of every agent
//                        that can block; a dialect whose agent acts only on JSON adds it (Copilot).
// Agents without an "ask" (Gemini, Copilot, Windsurf, Cline, Cursor's stop) degrade ask to deny
// with the reason prefixed "approval required: ". Outcome::Continue renders as "no opinion".
#pragma once

#include "hooks/hook_event.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace keel::hooks {

class HookInputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::size_t kMaxHookInput = 8 * 1024 * 1024;  // bytes of stdin JSON
inline constexpr std::size_t kMaxTextField = 10000;            // agents cap context at 10k chars

struct RenderResult {
  std::string stdout_text;
  std::string stderr_text;
  int exit_code = 0;
};

class Dialect {
 public:
  virtual ~Dialect() = default;
  virtual std::string_view name() const noexcept = 0;
  virtual HookEvent parse(std::string_view stdin_json) const = 0;
  virtual RenderResult render(const HookEvent& ev, const HookDecision& dec) const = 0;
  virtual RenderResult render_unreadable(std::string_view error) const;
};

// Whether the answer `dialect` (a Dialect::name(), as HookEvent::dialect holds it) gives to an
// event of `kind` carries HookDecision::additional_context to the model itself:
//   claude  PreToolUse, PostToolUse, PostToolUseFailure, UserPromptSubmit, SessionStart
//           (hookSpecificOutput.additionalContext, reference §1.4-§1.8)
//   codex   PreToolUse, PostToolUse, UserPromptSubmit, SessionStart (its hook output schemas)
//   gemini  AfterTool (→ PostToolUse/PostToolUseFailure), BeforeAgent (→ UserPromptSubmit);
//           not BeforeTool, whose additionalContext Gemini CLI drops
//   cline   PreToolUse, PostToolUse, PostToolUseFailure, UserPromptSubmit (contextModification)
//   cursor, copilot, windsurf, anything else: never.
// Context that must reach the model exactly once (release asks, lease_gate.h) is said only then.
bool context_reaches_model(std::string_view dialect, EventKind kind) noexcept;

// "keel: unreadable hook input: <error> (blocked: the permission gate fails closed)".
std::string unreadable_input_reason(std::string_view error);

// "claude" | "codex" | "gemini" | "cursor" | "copilot" | "windsurf" | "cline" (case-insensitive);
// nullptr for anything else.
std::unique_ptr<Dialect> make_dialect(std::string_view name);

// Recognises the dialect from the input (reference §2.3). `claudecode_env` is whether
// CLAUDECODE=1 is set; the fallback is "claude" either way. Never throws (non-JSON → "claude").
std::string detect_dialect(std::string_view stdin_json, bool claudecode_env = false);

}  // namespace keel::hooks

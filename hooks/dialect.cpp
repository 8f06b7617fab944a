// dialect.cpp — make_dialect() and detect_dialect() (reference §2.3).
#include "hooks/dialect.h"

#include "hooks/dialect_agents.h"
#include "hooks/text.h"

#include <boost/json.hpp>

namespace keel::hooks {

std::string unreadable_input_reason(std::string_view error) {
  return "keel: unreadable hook input: " + std::string(error) + " (blocked: the permission gate fails closed)";
}

RenderResult Dialect::render_unreadable(std::string_view error) const {
  return {{}, unreadable_input_reason(error) + "\n", 2};
}

bool context_reaches_model(std::string_view dialect, EventKind kind) noexcept {
  using K = EventKind;
  if (dialect == "claude") {
    return kind == K::PreToolUse || kind == K::PostToolUse || kind == K::PostToolUseFailure ||
           kind == K::UserPromptSubmit || kind == K::SessionStart;
  }
  if (dialect == "codex") {
    return kind == K::PreToolUse || kind == K::PostToolUse || kind == K::UserPromptSubmit ||
           kind == K::SessionStart;
  }
  if (dialect == "gemini") {
    return kind == K::PostToolUse || kind == K::PostToolUseFailure || kind == K::UserPromptSubmit;
  }
  if (dialect == "cline") {
    return kind == K::PreToolUse || kind == K::PostToolUse || kind == K::PostToolUseFailure ||
           kind == K::UserPromptSubmit;
  }
  return false;
}

std::unique_ptr<Dialect> make_dialect(std::string_view name) {
  const std::string n = text::lower(name);
  if (n == "claude" || n == "claude-code" || n == "claudecode") return std::make_unique<ClaudeDialect>();
  if (n == "codex") return std::make_unique<CodexDialect>();
  if (n == "gemini" || n == "gemini-cli") return std::make_unique<GeminiDialect>();
  if (n == "cursor") return std::make_unique<CursorDialect>();
  if (n == "copilot" || n == "github-copilot") return std::make_unique<CopilotDialect>();
  if (n == "windsurf" || n == "cascade") return std::make_unique<WindsurfDialect>();
  if (n == "cline") return std::make_unique<ClineDialect>();
  return nullptr;
}

std::string detect_dialect(std::string_view in, bool claudecode_env) {
  (void)claudecode_env;  // Claude Code is the fallback with or without CLAUDECODE=1
  if (in.size() > kMaxHookInput) return "claude";
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(in, ec);
  if (ec || !v.is_object()) return "claude";
  const auto& o = v.as_object();
  auto has = [&](std::string_view k) { return o.find(k) != o.end(); };
  if (has("cursor_version") || has("conversation_id")) return "cursor";
  if (has("agent_action_name") || has("trajectory_id")) return "windsurf";
  if (has("clineVersion") || has("hookName")) return "cline";
  if (auto it = o.find("toolArgs"); has("toolName") && it != o.end() && it->value().is_string()) return "copilot";
  if (has("toolName") || has("toolResult")) return "copilot";
  if (auto it = o.find("hook_event_name"); it != o.end() && it->value().is_string()) {
    std::string_view e = it->value().as_string();
    static constexpr std::string_view kGemini[] = {"BeforeTool", "AfterTool", "AfterAgent", "BeforeAgent", "BeforeModel",
                                                   "AfterModel", "BeforeToolSelection", "PreCompress", "Notification"};
    for (auto g : kGemini)
      if (e == g) return e == "Notification" && !has("timestamp") ? "claude" : "gemini";
  }
  if (has("turn_id")) return "codex";
  return "claude";
}

}  // namespace keel::hooks

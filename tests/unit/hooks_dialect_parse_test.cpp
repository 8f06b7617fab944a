// What parse() makes of each agent's fields, detect_dialect(), and a dialect end to end through
// the permission gate.
#include <catch2/catch.hpp>

#include "hooks/dialect.h"
#include "hooks/permission_gate.h"
#include "hooks_dialect_inputs.h"

#include <string>
#include <vector>

using namespace keel::hooks;

namespace {
// A shell command about to run: what every agent's pre-tool shell event must give the gate.
HookEvent shell_pre(const Dialect& d, const char* in, const std::string& command) {
  HookEvent ev = d.parse(in);
  CHECK(ev.kind == EventKind::PreToolUse);
  CHECK(ev.tool == ToolKind::Shell);
  CHECK(ev.command == command);
  return ev;
}
}  // namespace

TEST_CASE("claude: parse PreToolUse and friends", "[hooks][dialect]") {
  auto d = make_dialect("claude");
  HookEvent ev = d->parse(kClaudePre);
  CHECK(ev.kind == EventKind::PreToolUse);
  CHECK(ev.session_id == "abc123");
  CHECK(ev.cwd == "/home/u/repo");
  CHECK(ev.tool == ToolKind::Shell);
  CHECK(ev.tool_name == "Bash");
  CHECK(ev.command == "npm test");
  CHECK(ev.tool_use_id == "toolu_01ABC123");
  CHECK(ev.transcript_path == "/home/u/.claude/projects/p/abc123.jsonl");
  HookEvent w = d->parse(kClaudePost);
  CHECK(w.kind == EventKind::PostToolUse);
  CHECK(w.tool == ToolKind::Write);
  CHECK(w.file_paths == std::vector<std::string>{"/repo/a.txt"});
  CHECK(w.tool_response.has_value());
  HookEvent f = d->parse(kClaudeFailure);
  CHECK(f.kind == EventKind::PostToolUseFailure);
  CHECK(f.tool_failed);
  CHECK(f.error == "Exit code 1\nError: Cannot find module 'express'");
  HookEvent sub = d->parse(kClaudeSubagentStop);
  CHECK(sub.kind == EventKind::SubagentStop);
  CHECK(sub.agent_id == "def456");
  CHECK(sub.last_assistant_message == "Analysis complete. Found 3 potential issues");
  CHECK(d->parse(kClaudePrompt).prompt == "refactor the auth module");
  CHECK(d->parse(kClaudeStart).source == "startup");
  CHECK(d->parse(kClaudePreCompact).kind == EventKind::PreCompact);
}

TEST_CASE("claude: unparseable input throws HookInputError with a clear message", "[hooks][dialect]") {
  auto d = make_dialect("claude");
  CHECK_THROWS_WITH(d->parse("not json"), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(d->parse("[1,2]"), Catch::Contains("must be a JSON object"));
  CHECK_THROWS_AS(d->parse(R"({"hook_event_name":42})"), HookInputError);
  // Optional fields of the wrong type are ignored.
  HookEvent ev = d->parse(R"({"hook_event_name":"Stop","session_id":7,"stop_hook_active":"yes","cwd":null})");
  CHECK(ev.session_id.empty());
  CHECK_FALSE(ev.stop_hook_active);
}

TEST_CASE("codex: argv commands and apply_patch paths", "[hooks][dialect]") {
  auto d = make_dialect("codex");
  HookEvent ev = d->parse(kCodexPre);
  CHECK(ev.turn_id == "t1");
  CHECK(ev.command == "bash -lc 'git push --force'");
  HookEvent p = d->parse(R"({"hook_event_name":"PreToolUse","turn_id":"t","tool_name":"apply_patch","tool_input":)"
                         R"({"command":"*** Begin Patch\n*** Update File: src/a.rs\n@@\n-x\n+y\n*** Add File: src/b.rs\n+z\n*** End Patch"}})");
  CHECK(p.tool == ToolKind::Edit);
  CHECK(p.file_paths == std::vector<std::string>{"src/a.rs", "src/b.rs"});
}

TEST_CASE("gemini: event mapping and failures", "[hooks][dialect]") {
  auto d = make_dialect("gemini");
  shell_pre(*d, kGeminiBefore, "rm -rf /");
  CHECK(d->parse(kGeminiAfter).kind == EventKind::PostToolUse);
  CHECK(d->parse(kGeminiBeforeAgent).kind == EventKind::UserPromptSubmit);
  HookEvent a = d->parse(kGeminiAfterAgent);
  CHECK(a.kind == EventKind::Stop);
  CHECK(a.last_assistant_message == "done");
  HookEvent f = d->parse(R"({"hook_event_name":"AfterTool","tool_name":"read_file","tool_input":{"absolute_path":"/r/x"},"tool_response":{"error":"ENOENT"}})");
  CHECK(f.kind == EventKind::PostToolUseFailure);
  CHECK(f.file_paths == std::vector<std::string>{"/r/x"});
  CHECK(f.error == "ENOENT");
}

TEST_CASE("cursor: fields, MCP names, and only a completed stop is a Stop", "[hooks][dialect]") {
  auto d = make_dialect("cursor");
  HookEvent ev = d->parse(kCursorShell);
  CHECK(ev.session_id == "conv-123");
  CHECK(ev.turn_id == "gen-456");
  CHECK(ev.tool == ToolKind::Shell);
  CHECK(ev.command == "npm install express");
  HookEvent m = d->parse(kCursorMcp);
  CHECK(m.tool == ToolKind::Mcp);
  CHECK(m.tool_name == "MCP:write");
  CHECK(m.file_paths == std::vector<std::string>{"/repo/x"});
  CHECK(d->parse(kCursorRead).file_paths == std::vector<std::string>{"/repo/.env"});
  CHECK(d->parse(kCursorStop).kind == EventKind::Stop);
  CHECK(d->parse(kCursorSubagentStop).kind == EventKind::SubagentStop);
  CHECK(d->parse(R"({"hook_event_name":"stop","conversation_id":"c","loop_count":0})").kind == EventKind::Stop);
  HookEvent aborted = d->parse(kCursorStopAborted);
  CHECK(aborted.kind == EventKind::Other);
  CHECK(aborted.source == "aborted");
  CHECK(d->parse(kCursorStopError).kind == EventKind::Other);
  CHECK(d->parse(R"({"hook_event_name":"subagentStop","conversation_id":"c","status":"error"})").kind == EventKind::Other);
}

TEST_CASE("copilot: toolArgs JSON string; agentStop is no stop", "[hooks][dialect]") {
  auto d = make_dialect("copilot");
  shell_pre(*d, kCopilotPre, "git push -f");
  HookEvent p = d->parse(kCopilotPost);
  CHECK(p.kind == EventKind::PostToolUse);
  CHECK(p.tool_failed);
  CHECK(p.error == "boom");
  CHECK(p.file_paths == std::vector<std::string>{"/repo/a.ts"});
  HookEvent stop = d->parse(kCopilotAgentStop);
  CHECK(stop.kind == EventKind::Other);
  CHECK(stop.event_name == "agentStop");
  CHECK(stop.session_id == "sess-1");
  CHECK(d->parse(R"({"hookEventName":"subagentStop","cwd":"/repo"})").kind == EventKind::Other);
}

TEST_CASE("windsurf: tool_info fields; post_cascade_response is no stop", "[hooks][dialect]") {
  auto d = make_dialect("windsurf");
  HookEvent ev = shell_pre(*d, kWindsurfRun, "git reset --hard");
  CHECK(ev.cwd == "/repo");
  CHECK(ev.session_id == "tr1");
  CHECK(d->parse(R"({"agent_action_name":"pre_write_code","trajectory_id":"t","tool_info":{"file_path":"/repo/.env","edits":[]}})")
            .file_paths == std::vector<std::string>{"/repo/.env"});
  HookEvent mcp = d->parse(kWindsurfMcp);
  CHECK(mcp.tool == ToolKind::Mcp);
  CHECK(mcp.tool_name == "mcp__github__create_issue");
  CHECK(d->parse(kWindsurfPrompt).prompt == "delete the repo");
  HookEvent resp = d->parse(kWindsurfResponse);
  CHECK(resp.kind == EventKind::Other);
  CHECK(resp.last_assistant_message == "done");
}

TEST_CASE("cline: nested per-event objects", "[hooks][dialect]") {
  auto d = make_dialect("cline");
  HookEvent ev = shell_pre(*d, kClinePre, "rm -rf ~");
  CHECK(ev.session_id == "task-9");
  CHECK(ev.cwd == "/repo");
  CHECK(d->parse(kClineComplete).kind == EventKind::Stop);
  const char* post = R"({"clineVersion":"3","hookName":"PostToolUse","taskId":"t","postToolUse":{"toolName":"write_to_file","parameters":{"path":"/r/a"},"result":"err","success":false}})";
  HookEvent p = d->parse(post);
  CHECK(p.kind == EventKind::PostToolUseFailure);
  CHECK(p.file_paths == std::vector<std::string>{"/r/a"});
}

TEST_CASE("detect_dialect follows reference §2.3", "[hooks][dialect]") {
  CHECK(detect_dialect(R"({"hook_event_name":"beforeShellExecution","cursor_version":"2"})") == "cursor");
  CHECK(detect_dialect(R"({"hook_event_name":"PreToolUse","conversation_id":"c"})") == "cursor");
  CHECK(detect_dialect(R"({"agent_action_name":"pre_run_command"})") == "windsurf");
  CHECK(detect_dialect(R"({"clineVersion":"3","hookName":"PreToolUse"})") == "cline");
  CHECK(detect_dialect(R"({"toolName":"bash","toolArgs":"{}"})") == "copilot");
  CHECK(detect_dialect(R"({"hook_event_name":"BeforeTool","tool_name":"x"})") == "gemini");
  CHECK(detect_dialect(R"({"hook_event_name":"PreToolUse","turn_id":"t"})") == "codex");
  CHECK(detect_dialect(R"({"hook_event_name":"PreToolUse","tool_name":"Bash"})", true) == "claude");
  CHECK(detect_dialect("garbage") == "claude");
  for (const char* n : {"claude", "codex", "gemini", "cursor", "copilot", "windsurf", "cline", "CLAUDE"}) {
    auto d = make_dialect(n);
    REQUIRE(d != nullptr);
  }
  CHECK(make_dialect("kiro-x") == nullptr);
}

TEST_CASE("end to end: parse → gate → render", "[hooks][dialect][gate]") {
  GateConfig cfg;
  cfg.home = "/home/u";
  PermissionGate gate(cfg);
  auto d = make_dialect("claude");
  HookEvent ev = d->parse(R"({"session_id":"s","cwd":"/home/u/repo","hook_event_name":"PreToolUse","tool_name":"Bash",)"
                          R"("tool_input":{"command":"cd /tmp && sudo rm -rf /"}})");
  HookDecision dec = gate.evaluate(ev);
  CHECK(dec.outcome == Outcome::Deny);
  CHECK(dec.rule_id == "builtin:rm.root");
  auto r = d->render(ev, dec);
  CHECK(r.stdout_text.find("\"permissionDecision\":\"deny\"") != std::string::npos);
  CHECK(r.stdout_text.find("permission.rules") != std::string::npos);
  HookEvent read = d->parse(R"({"hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{"file_path":"/home/u/repo/.env"}})");
  CHECK(gate.evaluate(read).outcome == Outcome::Deny);
  HookEvent ok = d->parse(R"({"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"git status"}})");
  CHECK(gate.evaluate(ok).outcome == Outcome::Continue);
  CHECK(d->render(ok, gate.evaluate(ok)).stdout_text.empty());
  HookEvent stop = d->parse(kClaudeStop);
  CHECK(gate.evaluate(stop).outcome == Outcome::Continue);
}

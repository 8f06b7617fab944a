// Golden tests per dialect: real-shaped input (reference agent-hooks.md) → canonical event →
// exact stdout/stderr/exit code for allow, deny, ask, continue and stop-block.
#include <catch2/catch.hpp>

#include "hooks/dialect.h"
#include "hooks/permission_gate.h"

#include <string>

using namespace keel::hooks;

namespace {

HookDecision decide(Outcome o, std::string reason = "", std::string ctx = "") {
  HookDecision d;
  d.outcome = o;
  d.reason = std::move(reason);
  d.additional_context = std::move(ctx);
  return d;
}

RenderResult run(const Dialect& d, const std::string& in, const HookDecision& dec) {
  return d.render(d.parse(in), dec);
}

const char* kClaudePre =
    R"({"session_id":"abc123","transcript_path":"/home/u/.claude/projects/p/abc123.jsonl","cwd":"/home/u/repo",)"
    R"("permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash",)"
    R"("tool_input":{"command":"npm test","description":"Run test suite","timeout":120000,"run_in_background":false},)"
    R"("tool_use_id":"toolu_01ABC123","some_future_field":{"x":1}})";

const char* kClaudeStop =
    R"({"hook_event_name":"Stop","session_id":"abc123","transcript_path":"t","cwd":"/repo","permission_mode":"default",)"
    R"("stop_hook_active":false,"last_assistant_message":"I've completed the refactoring","background_tasks":[],"session_crons":[]})";

}  // namespace

TEST_CASE("claude: parse PreToolUse", "[hooks][dialect]") {
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
  HookEvent w = d->parse(R"({"session_id":"s","cwd":"/r","hook_event_name":"PostToolUse","tool_name":"Write",)"
                         R"("tool_input":{"file_path":"/repo/a.txt","content":"x"},"tool_response":{"success":true}})");
  CHECK(w.kind == EventKind::PostToolUse);
  CHECK(w.tool == ToolKind::Write);
  CHECK(w.file_paths == std::vector<std::string>{"/repo/a.txt"});
  CHECK(w.tool_response.has_value());
  HookEvent f = d->parse(R"({"hook_event_name":"PostToolUseFailure","tool_name":"Bash","tool_input":{"command":"npm test"},)"
                         R"("tool_use_id":"t","error":"Exit code 1\nError: x","is_interrupt":false,"duration_ms":4187})");
  CHECK(f.kind == EventKind::PostToolUseFailure);
  CHECK(f.tool_failed);
  CHECK(f.error == "Exit code 1\nError: x");
  HookEvent sub = d->parse(R"({"hook_event_name":"SubagentStop","session_id":"abc","stop_hook_active":true,"agent_id":"def456","agent_type":"Explore"})");
  CHECK(sub.kind == EventKind::SubagentStop);
  CHECK(sub.stop_hook_active);
  CHECK(sub.agent_id == "def456");
}

TEST_CASE("claude: render PreToolUse allow/deny/ask/continue", "[hooks][dialect]") {
  auto d = make_dialect("claude");
  CHECK(run(*d, kClaudePre, decide(Outcome::Deny, "src/auth.ts is leased by agent B")).stdout_text ==
        R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"src/auth.ts is leased by agent B"}})"
        "\n");
  CHECK(run(*d, kClaudePre, decide(Outcome::Ask, "needs a human")).stdout_text ==
        R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"ask","permissionDecisionReason":"needs a human"}})"
        "\n");
  CHECK(run(*d, kClaudePre, decide(Outcome::Allow)).stdout_text ==
        R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow"}})"
        "\n");
  auto c = run(*d, kClaudePre, decide(Outcome::Continue));
  CHECK(c.stdout_text.empty());
  CHECK(c.exit_code == 0);
  HookDecision up = decide(Outcome::Allow, "rewritten", "ctx");
  up.updated_input = boost::json::object{{"command", "npm test -- --ci"}};
  CHECK(run(*d, kClaudePre, up).stdout_text ==
        R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow","permissionDecisionReason":"rewritten","updatedInput":{"command":"npm test -- --ci"},"additionalContext":"ctx"}})"
        "\n");
}

TEST_CASE("claude: render Stop, prompt, session, universal fields", "[hooks][dialect]") {
  auto d = make_dialect("claude");
  auto r = run(*d, kClaudeStop, decide(Outcome::BlockStop, "2 tests fail in test_auth.py; fix them before finishing."));
  CHECK(r.stdout_text == R"({"decision":"block","reason":"2 tests fail in test_auth.py; fix them before finishing."})"
                         "\n");
  CHECK(r.exit_code == 0);
  CHECK(run(*d, kClaudeStop, decide(Outcome::Continue, "", "Run the test suite before finishing")).stdout_text ==
        R"({"hookSpecificOutput":{"hookEventName":"Stop","additionalContext":"Run the test suite before finishing"}})"
        "\n");
  HookDecision budget;
  budget.continue_ = false;
  budget.stop_reason = "Budget exceeded: $5.02 > $5.00";
  budget.system_message = "keel budget";
  CHECK(run(*d, kClaudeStop, budget).stdout_text ==
        R"({"continue":false,"stopReason":"Budget exceeded: $5.02 > $5.00","systemMessage":"keel budget"})"
        "\n");
  const char* prompt = R"({"session_id":"s","hook_event_name":"UserPromptSubmit","prompt":"do it","cwd":"/r"})";
  CHECK(d->parse(prompt).prompt == "do it");
  CHECK(run(*d, prompt, decide(Outcome::Deny, "shown to the user")).stdout_text ==
        R"({"decision":"block","reason":"shown to the user"})"
        "\n");
  const char* start = R"({"session_id":"abc123","cwd":"/repo","hook_event_name":"SessionStart","source":"startup","model":"claude-sonnet-5"})";
  CHECK(d->parse(start).source == "startup");
  CHECK(run(*d, start, decide(Outcome::Continue, "", "keel: 2 leases held")).stdout_text ==
        R"({"hookSpecificOutput":{"hookEventName":"SessionStart","additionalContext":"keel: 2 leases held"}})"
        "\n");
  const char* post = R"({"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"ls"}})";
  CHECK(run(*d, post, decide(Outcome::Deny, "beside the result")).stdout_text ==
        R"({"decision":"block","reason":"beside the result"})"
        "\n");
  const char* fail = R"({"hook_event_name":"PostToolUseFailure","tool_name":"Bash","tool_input":{"command":"x"},"error":"Exit code 1"})";
  CHECK(run(*d, fail, decide(Outcome::Continue, "", "same failure 3 times")).stdout_text ==
        R"({"hookSpecificOutput":{"hookEventName":"PostToolUseFailure","additionalContext":"same failure 3 times"}})"
        "\n");
  CHECK(run(*d, R"({"hook_event_name":"SessionEnd","session_id":"s"})", decide(Outcome::Continue)).stdout_text.empty());
  const char* perm = R"({"hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{"command":"npm run lint"}})";
  CHECK(run(*d, perm, decide(Outcome::Deny, "no")).stdout_text ==
        R"({"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":"no"}}})"
        "\n");
  std::string big(20000, 'x');
  auto capped = run(*d, kClaudeStop, decide(Outcome::BlockStop, big));
  CHECK(capped.stdout_text.size() < 10200);
}

TEST_CASE("claude: bad input throws HookInputError with a clear message", "[hooks][dialect]") {
  auto d = make_dialect("claude");
  CHECK_THROWS_WITH(d->parse("not json"), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(d->parse("[1,2]"), Catch::Contains("must be a JSON object"));
  CHECK_THROWS_WITH(d->parse(R"({"session_id":"x"})"), Catch::Contains("hook_event_name"));
  CHECK_THROWS_WITH(d->parse(R"({"hook_event_name":"PreToolUse","tool_input":{}})"), Catch::Contains("tool_name"));
  CHECK_THROWS_AS(d->parse(R"({"hook_event_name":42})"), HookInputError);
  // Optional fields of the wrong type are ignored.
  HookEvent ev = d->parse(R"({"hook_event_name":"Stop","session_id":7,"stop_hook_active":"yes","cwd":null})");
  CHECK(ev.session_id.empty());
  CHECK_FALSE(ev.stop_hook_active);
}

TEST_CASE("codex: Claude shapes plus turn_id, argv commands and apply_patch paths", "[hooks][dialect]") {
  auto d = make_dialect("codex");
  const char* in = R"({"session_id":"s","turn_id":"t1","model":"gpt-5","transcript_path":null,"cwd":"/repo",)"
                   R"("hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":["bash","-lc","git push --force"]}})";
  HookEvent ev = d->parse(in);
  CHECK(ev.turn_id == "t1");
  CHECK(ev.command == "bash -lc 'git push --force'");
  CHECK(run(*d, in, decide(Outcome::Deny, "force push")).stdout_text ==
        R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"force push"}})"
        "\n");
  HookEvent p = d->parse(R"({"hook_event_name":"PreToolUse","turn_id":"t","tool_name":"apply_patch","tool_input":)"
                         R"({"command":"*** Begin Patch\n*** Update File: src/a.rs\n@@\n-x\n+y\n*** Add File: src/b.rs\n+z\n*** End Patch"}})");
  CHECK(p.tool == ToolKind::Edit);
  CHECK(p.file_paths == std::vector<std::string>{"src/a.rs", "src/b.rs"});
  const char* stop = R"({"hook_event_name":"Stop","turn_id":"t","stop_hook_active":false,"last_assistant_message":"done"})";
  CHECK(run(*d, stop, decide(Outcome::BlockStop, "tests fail")).stdout_text == R"({"decision":"block","reason":"tests fail"})"
                                                                               "\n");
}

TEST_CASE("gemini: BeforeTool/AfterAgent decisions", "[hooks][dialect]") {
  auto d = make_dialect("gemini");
  const char* in = R"({"session_id":"g1","transcript_path":"/t","cwd":"/repo","hook_event_name":"BeforeTool",)"
                   R"("timestamp":"2026-08-01T10:00:00Z","tool_name":"run_shell_command","tool_input":{"command":"rm -rf /","description":"x"},"mcp_context":null})";
  HookEvent ev = d->parse(in);
  CHECK(ev.kind == EventKind::PreToolUse);
  CHECK(ev.tool == ToolKind::Shell);
  CHECK(ev.command == "rm -rf /");
  CHECK(run(*d, in, decide(Outcome::Deny, "no")).stdout_text == R"({"decision":"deny","reason":"no"})"
                                                                 "\n");
  CHECK(run(*d, in, decide(Outcome::Ask, "check")).stdout_text == R"({"decision":"deny","reason":"approval required: check"})"
                                                                   "\n");
  CHECK(run(*d, in, decide(Outcome::Allow)).stdout_text == R"({"decision":"allow"})"
                                                           "\n");
  CHECK(run(*d, in, decide(Outcome::Continue)).stdout_text.empty());
  HookDecision up = decide(Outcome::Continue);
  up.updated_input = boost::json::object{{"command", "ls"}};
  CHECK(run(*d, in, up).stdout_text == R"({"hookSpecificOutput":{"hookEventName":"BeforeTool","tool_input":{"command":"ls"}}})"
                                       "\n");
  const char* after = R"({"session_id":"g1","cwd":"/repo","hook_event_name":"AfterAgent","prompt":"fix","prompt_response":"done","stop_hook_active":false})";
  HookEvent a = d->parse(after);
  CHECK(a.kind == EventKind::Stop);
  CHECK(a.last_assistant_message == "done");
  CHECK(run(*d, after, decide(Outcome::BlockStop, "tests fail")).stdout_text == R"({"decision":"deny","reason":"tests fail"})"
                                                                                "\n");
  HookEvent f = d->parse(R"({"hook_event_name":"AfterTool","tool_name":"read_file","tool_input":{"absolute_path":"/r/x"},"tool_response":{"error":"ENOENT"}})");
  CHECK(f.kind == EventKind::PostToolUseFailure);
  CHECK(f.file_paths == std::vector<std::string>{"/r/x"});
  CHECK(f.error == "ENOENT");
}

TEST_CASE("cursor: permission JSON, followup_message, prompt continue", "[hooks][dialect]") {
  auto d = make_dialect("cursor");
  const char* in = R"({"hook_event_name":"beforeShellExecution","conversation_id":"conv-123","generation_id":"gen-456",)"
                   R"("workspace_roots":["/repo"],"model":"m","cursor_version":"2.0.77","user_email":null,"command":"npm install express","cwd":"/repo"})";
  HookEvent ev = d->parse(in);
  CHECK(ev.session_id == "conv-123");
  CHECK(ev.turn_id == "gen-456");
  CHECK(ev.tool == ToolKind::Shell);
  CHECK(ev.command == "npm install express");
  CHECK(run(*d, in, decide(Outcome::Deny, "rm -rf outside the workspace is not allowed")).stdout_text ==
        R"({"permission":"deny","user_message":"rm -rf outside the workspace is not allowed","agent_message":"rm -rf outside the workspace is not allowed"})"
        "\n");
  CHECK(run(*d, in, decide(Outcome::Ask, "confirm")).stdout_text ==
        R"({"permission":"ask","user_message":"confirm","agent_message":"confirm"})"
        "\n");
  CHECK(run(*d, in, decide(Outcome::Allow)).stdout_text == R"({"permission":"allow"})"
                                                           "\n");
  CHECK(run(*d, in, decide(Outcome::Continue)).stdout_text == "{}\n");
  const char* mcp = R"({"hook_event_name":"beforeMCPExecution","conversation_id":"c","tool_name":"write","tool_input":"{\"path\":\"/repo/x\"}","url":"http://x"})";
  HookEvent m = d->parse(mcp);
  CHECK(m.tool == ToolKind::Mcp);
  CHECK(m.tool_name == "MCP:write");
  CHECK(m.file_paths == std::vector<std::string>{"/repo/x"});
  const char* stop = R"({"hook_event_name":"stop","conversation_id":"c","status":"completed","loop_count":0})";
  CHECK(d->parse(stop).kind == EventKind::Stop);
  CHECK(run(*d, stop, decide(Outcome::BlockStop, "run the tests")).stdout_text == R"({"followup_message":"run the tests"})"
                                                                                   "\n");
  CHECK(run(*d, stop, decide(Outcome::Continue)).stdout_text == "{}\n");
  const char* pr = R"({"hook_event_name":"beforeSubmitPrompt","conversation_id":"c","prompt":"hi"})";
  CHECK(run(*d, pr, decide(Outcome::Deny, "no")).stdout_text == R"({"continue":false,"user_message":"no"})"
                                                                 "\n");
  CHECK(run(*d, pr, decide(Outcome::Continue)).stdout_text == R"({"continue":true})"
                                                              "\n");
}

TEST_CASE("copilot: toolArgs JSON string, only deny honoured", "[hooks][dialect]") {
  auto d = make_dialect("copilot");
  const char* in = R"({"timestamp":1754000000000,"cwd":"/repo","toolName":"bash","toolArgs":"{\"command\":\"git push -f\",\"description\":\"push\"}"})";
  HookEvent ev = d->parse(in);
  CHECK(ev.kind == EventKind::PreToolUse);
  CHECK(ev.tool == ToolKind::Shell);
  CHECK(ev.command == "git push -f");
  CHECK(run(*d, in, decide(Outcome::Deny, "force push")).stdout_text ==
        R"({"permissionDecision":"deny","permissionDecisionReason":"force push"})"
        "\n");
  CHECK(run(*d, in, decide(Outcome::Ask, "check")).stdout_text ==
        R"({"permissionDecision":"deny","permissionDecisionReason":"approval required: check"})"
        "\n");
  CHECK(run(*d, in, decide(Outcome::Continue)).stdout_text.empty());
  const char* post = R"({"timestamp":1,"cwd":"/r","toolName":"edit","toolArgs":"{\"path\":\"/r/a.ts\"}","toolResult":{"resultType":"failure","textResultForLlm":"boom"}})";
  HookEvent p = d->parse(post);
  CHECK(p.kind == EventKind::PostToolUse);
  CHECK(p.tool_failed);
  CHECK(p.error == "boom");
  CHECK(p.file_paths == std::vector<std::string>{"/r/a.ts"});
  CHECK(run(*d, post, decide(Outcome::Deny, "x")).stdout_text.empty());
}

TEST_CASE("windsurf: exit 2 with stderr, no ask", "[hooks][dialect]") {
  auto d = make_dialect("windsurf");
  const char* in = R"({"agent_action_name":"pre_run_command","trajectory_id":"tr1","execution_id":"ex1","timestamp":"2026-08-01T00:00:00Z",)"
                   R"("model_name":"swe-1","tool_info":{"command_line":"git reset --hard","cwd":"/repo"}})";
  HookEvent ev = d->parse(in);
  CHECK(ev.kind == EventKind::PreToolUse);
  CHECK(ev.command == "git reset --hard");
  CHECK(ev.cwd == "/repo");
  CHECK(ev.session_id == "tr1");
  auto r = run(*d, in, decide(Outcome::Deny, "discards changes"));
  CHECK(r.exit_code == 2);
  CHECK(r.stderr_text == "discards changes\n");
  CHECK(r.stdout_text.empty());
  auto a = run(*d, in, decide(Outcome::Ask, "confirm"));
  CHECK(a.exit_code == 2);
  CHECK(a.stderr_text == "approval required: confirm\n");
  auto ok = run(*d, in, decide(Outcome::Allow));
  CHECK(ok.exit_code == 0);
  CHECK(ok.stderr_text.empty());
  const char* write = R"({"agent_action_name":"pre_write_code","trajectory_id":"t","tool_info":{"file_path":"/repo/.env","edits":[]}})";
  CHECK(d->parse(write).file_paths == std::vector<std::string>{"/repo/.env"});
  const char* resp = R"({"agent_action_name":"post_cascade_response","trajectory_id":"t","tool_info":{"response":"done"}})";
  CHECK(run(*d, resp, decide(Outcome::BlockStop, "x")).exit_code == 0);
}

TEST_CASE("cline: always one JSON object, cancel on deny/ask", "[hooks][dialect]") {
  auto d = make_dialect("cline");
  const char* in = R"({"clineVersion":"3.30.0","hookName":"PreToolUse","timestamp":"1","taskId":"task-9","workspaceRoots":["/repo"],)"
                   R"("userId":"u","preToolUse":{"toolName":"execute_command","parameters":{"command":"rm -rf ~","requires_approval":"false"}}})";
  HookEvent ev = d->parse(in);
  CHECK(ev.kind == EventKind::PreToolUse);
  CHECK(ev.session_id == "task-9");
  CHECK(ev.cwd == "/repo");
  CHECK(ev.command == "rm -rf ~");
  CHECK(run(*d, in, decide(Outcome::Deny, "home")).stdout_text == R"({"cancel":true,"errorMessage":"home"})"
                                                                   "\n");
  CHECK(run(*d, in, decide(Outcome::Ask, "check")).stdout_text ==
        R"({"cancel":true,"errorMessage":"approval required: check"})"
        "\n");
  CHECK(run(*d, in, decide(Outcome::Continue)).stdout_text == R"({"cancel":false})"
                                                              "\n");
  CHECK(run(*d, in, decide(Outcome::Continue, "", "lease held")).stdout_text ==
        R"({"cancel":false,"contextModification":"lease held"})"
        "\n");
  const char* post = R"({"clineVersion":"3","hookName":"PostToolUse","taskId":"t","postToolUse":{"toolName":"write_to_file","parameters":{"path":"/r/a"},"result":"err","success":false}})";
  HookEvent p = d->parse(post);
  CHECK(p.kind == EventKind::PostToolUseFailure);
  CHECK(p.file_paths == std::vector<std::string>{"/r/a"});
  CHECK_THROWS_WITH(d->parse(R"({"clineVersion":"3","hookName":"PreToolUse"})"), Catch::Contains("preToolUse"));
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

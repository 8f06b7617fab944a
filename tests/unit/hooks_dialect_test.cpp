// Golden tests per dialect: real-shaped input (reference agent-hooks.md §1, §2) → exact stdout,
// stderr and exit code for deny, ask, allow, continue, stop-block, continue:false and bad input.
// What parse() makes of each agent's fields is in hooks_dialect_parse_test.cpp.
#include <catch2/catch.hpp>

#include "hooks/dialect.h"
#include "hooks/permission_gate.h"
#include "hooks_dialect_inputs.h"

#include <map>
#include <set>
#include <string>
#include <vector>

using namespace keel::hooks;

namespace {

HookDecision decide(Outcome o, std::string reason = "", std::string ctx = "") {
  HookDecision d;
  d.outcome = o;
  d.reason = std::move(reason);
  d.additional_context = std::move(ctx);
  return d;
}

// The budget's decision on a tool or prompt event past its ceiling (budget.cpp): deny this call
// and stop the agent.
const std::string kBudget = "keel budget: session cost $5.02 reached the ceiling $5.00 (hooks.budget in keel.jsonc)";
HookDecision budget_stop(Outcome o = Outcome::Deny) {
  HookDecision d = decide(o, o == Outcome::Continue ? "" : kBudget);
  d.continue_ = false;
  d.stop_reason = kBudget;
  return d;
}

HookDecision with_update(HookDecision d, boost::json::object input) {
  d.updated_input = std::move(input);
  return d;
}

HookDecision with_system_message(HookDecision d, std::string m) {
  d.system_message = std::move(m);
  return d;
}

RenderResult run(const Dialect& d, const std::string& in, const HookDecision& dec) {
  return d.render(d.parse(in), dec);
}

// ---- the golden table -------------------------------------------------------------------------

// What a row shows; every dialect must have a row of each kind (checked below).
enum class Shows { Deny, Ask, AllowOrContinue, StopBlock, ContinueFalse, Other };

struct Golden {
  const char* dialect;
  const char* what;
  Shows shows;
  std::string input;
  HookDecision decision;
  std::string out;  // exact stdout
  std::string err;  // exact stderr
  int exit_code;
};

std::vector<Golden> goldens() {
  using S = Shows;
  const std::string cut = std::string(9960, 'x') + R"(\n…[truncated 10040 bytes])";
  return {
      // ---- claude
      {"claude", "PreToolUse deny", S::Deny, kClaudePre, decide(Outcome::Deny, "src/auth.ts is leased by agent B"),
       R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"src/auth.ts is leased by agent B"}})"
       "\n", "", 0},
      {"claude", "PreToolUse ask", S::Ask, kClaudePre, decide(Outcome::Ask, "needs a human"),
       R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"ask","permissionDecisionReason":"needs a human"}})"
       "\n", "", 0},
      {"claude", "PreToolUse allow", S::AllowOrContinue, kClaudePre, decide(Outcome::Allow),
       R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow"}})"
       "\n", "", 0},
      {"claude", "PreToolUse continue", S::AllowOrContinue, kClaudePre, decide(Outcome::Continue), "", "", 0},
      {"claude", "PreToolUse allow with updatedInput", S::AllowOrContinue, kClaudePre,
       with_update(decide(Outcome::Allow, "rewritten", "ctx"), {{"command", "npm test -- --ci"}}),
       R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow","permissionDecisionReason":"rewritten","updatedInput":{"command":"npm test -- --ci"},"additionalContext":"ctx"}})"
       "\n", "", 0},
      {"claude", "PreToolUse budget: deny and continue:false", S::ContinueFalse, kClaudePre, budget_stop(),
       R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":")" +
           kBudget + R"("},"continue":false,"stopReason":")" + kBudget + R"("})" "\n",
       "", 0},
      {"claude", "systemMessage alone", S::Other, kClaudePre, with_system_message(decide(Outcome::Continue), "keel: 80% of the budget used"),
       R"({"systemMessage":"keel: 80% of the budget used"})" "\n", "", 0},
      {"claude", "Stop block", S::StopBlock, kClaudeStop,
       decide(Outcome::BlockStop, "2 tests fail in test_auth.py; fix them before finishing."),
       R"({"decision":"block","reason":"2 tests fail in test_auth.py; fix them before finishing."})" "\n", "", 0},
      {"claude", "Stop feedback", S::Other, kClaudeStop, decide(Outcome::Continue, "", "Run the test suite before finishing"),
       R"({"hookSpecificOutput":{"hookEventName":"Stop","additionalContext":"Run the test suite before finishing"}})" "\n", "", 0},
      {"claude", "Stop continue:false", S::ContinueFalse, kClaudeStop,
       with_system_message(budget_stop(Outcome::Continue), "keel budget"),
       R"({"continue":false,"stopReason":")" + kBudget + R"(","systemMessage":"keel budget"})" "\n", "", 0},
      {"claude", "Stop block capped at 10,000 characters", S::StopBlock, kClaudeStop,
       decide(Outcome::BlockStop, std::string(20000, 'x')), R"({"decision":"block","reason":")" + cut + R"("})" "\n", "", 0},
      {"claude", "Stop block of exactly 10,000 characters is not cut", S::StopBlock, kClaudeStop,
       decide(Outcome::BlockStop, std::string(10000, 'y')),
       R"({"decision":"block","reason":")" + std::string(10000, 'y') + R"("})" "\n", "", 0},
      {"claude", "SubagentStop block", S::StopBlock, kClaudeSubagentStop, decide(Outcome::BlockStop, "lint fails"),
       R"({"decision":"block","reason":"lint fails"})" "\n", "", 0},
      {"claude", "PreCompact block", S::Deny, kClaudePreCompact, decide(Outcome::Deny, "leases are held"),
       R"({"decision":"block","reason":"leases are held"})" "\n", "", 0},
      {"claude", "PreCompact has no additionalContext", S::Other, kClaudePreCompact, decide(Outcome::Continue, "", "ctx"),
       "", "", 0},
      {"claude", "PermissionRequest allow", S::AllowOrContinue, kClaudePermission, decide(Outcome::Allow, "allowed by rule"),
       R"({"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"}}})" "\n", "", 0},
      {"claude", "PermissionRequest allow with updatedInput", S::AllowOrContinue, kClaudePermission,
       with_update(decide(Outcome::Allow), {{"command", "npm run lint -- --quiet"}}),
       R"({"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow","updatedInput":{"command":"npm run lint -- --quiet"}}}})"
       "\n", "", 0},
      {"claude", "PermissionRequest ask: the dialog shows", S::Ask, kClaudePermission, decide(Outcome::Ask, "confirm"), "", "", 0},
      {"claude", "PermissionRequest deny without interrupt", S::Deny, kClaudePermission, decide(Outcome::Deny, "no"),
       R"({"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"deny","message":"no"}}})" "\n", "", 0},
      {"claude", "UserPromptSubmit block with additionalContext", S::Deny, kClaudePrompt,
       decide(Outcome::Deny, "shown to the user", "keel: src/auth.ts is leased"),
       R"({"decision":"block","reason":"shown to the user","hookSpecificOutput":{"hookEventName":"UserPromptSubmit","additionalContext":"keel: src/auth.ts is leased"}})"
       "\n", "", 0},
      {"claude", "UserPromptSubmit additionalContext", S::AllowOrContinue, kClaudePrompt,
       decide(Outcome::Continue, "", "keel: 2 leases held"),
       R"({"hookSpecificOutput":{"hookEventName":"UserPromptSubmit","additionalContext":"keel: 2 leases held"}})" "\n", "", 0},
      {"claude", "SessionStart additionalContext", S::Other, kClaudeStart, decide(Outcome::Continue, "", "keel: 2 leases held"),
       R"({"hookSpecificOutput":{"hookEventName":"SessionStart","additionalContext":"keel: 2 leases held"}})" "\n", "", 0},
      {"claude", "PostToolUse block", S::Other, kClaudePost, decide(Outcome::Deny, "beside the result", "ctx"),
       R"({"decision":"block","reason":"beside the result","hookSpecificOutput":{"hookEventName":"PostToolUse","additionalContext":"ctx"}})" "\n",
       "", 0},
      {"claude", "PostToolUseFailure context", S::Other, kClaudeFailure, decide(Outcome::Continue, "", "same failure 3 times"),
       R"({"hookSpecificOutput":{"hookEventName":"PostToolUseFailure","additionalContext":"same failure 3 times"}})" "\n", "", 0},
      {"claude", "PostToolUseFailure deny becomes context", S::Other, kClaudeFailure, decide(Outcome::Deny, "stop retrying", "hint"),
       R"({"hookSpecificOutput":{"hookEventName":"PostToolUseFailure","additionalContext":"stop retrying\nhint"}})" "\n", "", 0},
      {"claude", "SessionEnd", S::Other, kClaudeEnd, decide(Outcome::Continue), "", "", 0},

      // ---- codex
      {"codex", "PreToolUse deny", S::Deny, kCodexPre, decide(Outcome::Deny, "force push"),
       R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"force push"}})" "\n", "", 0},
      {"codex", "PreToolUse ask", S::Ask, kCodexPre, decide(Outcome::Ask, "confirm the push"),
       R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"ask","permissionDecisionReason":"confirm the push"}})" "\n", "", 0},
      {"codex", "PreToolUse allow", S::AllowOrContinue, kCodexPre, decide(Outcome::Allow),
       R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow"}})" "\n", "", 0},
      {"codex", "PreToolUse continue", S::AllowOrContinue, kCodexPre, decide(Outcome::Continue), "", "", 0},
      {"codex", "PreToolUse budget: deny and continue:false", S::ContinueFalse, kCodexPre, budget_stop(),
       R"({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":")" + kBudget +
           R"("},"continue":false,"stopReason":")" + kBudget + R"("})" "\n",
       "", 0},
      {"codex", "Stop block", S::StopBlock, kCodexStop, decide(Outcome::BlockStop, "tests fail"),
       R"({"decision":"block","reason":"tests fail"})" "\n", "", 0},

      // ---- gemini
      {"gemini", "BeforeTool deny", S::Deny, kGeminiBefore, decide(Outcome::Deny, "no"), R"({"decision":"deny","reason":"no"})" "\n", "", 0},
      {"gemini", "BeforeTool ask degrades to deny", S::Ask, kGeminiBefore, decide(Outcome::Ask, "check"),
       R"({"decision":"deny","reason":"approval required: check"})" "\n", "", 0},
      {"gemini", "BeforeTool allow", S::AllowOrContinue, kGeminiBefore, decide(Outcome::Allow), R"({"decision":"allow"})" "\n", "", 0},
      {"gemini", "BeforeTool continue", S::AllowOrContinue, kGeminiBefore, decide(Outcome::Continue), "", "", 0},
      {"gemini", "BeforeTool rewrite", S::AllowOrContinue, kGeminiBefore, with_update(decide(Outcome::Continue), {{"command", "ls"}}),
       R"({"hookSpecificOutput":{"hookEventName":"BeforeTool","tool_input":{"command":"ls"}}})" "\n", "", 0},
      {"gemini", "BeforeTool budget: deny and continue:false", S::ContinueFalse, kGeminiBefore, budget_stop(),
       R"({"decision":"deny","reason":")" + kBudget + R"(","continue":false,"stopReason":")" + kBudget + R"("})" "\n", "", 0},
      {"gemini", "AfterTool deny hides the output", S::Other, kGeminiAfter, decide(Outcome::Deny, "output withheld"),
       R"({"decision":"deny","reason":"output withheld"})" "\n", "", 0},
      {"gemini", "AfterTool context", S::Other, kGeminiAfter, decide(Outcome::Continue, "", "same failure 3 times"),
       R"({"hookSpecificOutput":{"hookEventName":"AfterTool","additionalContext":"same failure 3 times"}})" "\n", "", 0},
      {"gemini", "BeforeAgent deny", S::Deny, kGeminiBeforeAgent, decide(Outcome::Deny, "prompt refused"),
       R"({"decision":"deny","reason":"prompt refused"})" "\n", "", 0},
      {"gemini", "AfterAgent block", S::StopBlock, kGeminiAfterAgent, decide(Outcome::BlockStop, "tests fail"),
       R"({"decision":"deny","reason":"tests fail"})" "\n", "", 0},
      {"gemini", "AfterAgent continue", S::AllowOrContinue, kGeminiAfterAgent, decide(Outcome::Continue), "", "", 0},

      // ---- cursor
      {"cursor", "beforeShellExecution deny", S::Deny, kCursorShell, decide(Outcome::Deny, "rm -rf outside the workspace is not allowed"),
       R"({"permission":"deny","user_message":"rm -rf outside the workspace is not allowed","agent_message":"rm -rf outside the workspace is not allowed"})" "\n",
       "", 0},
      {"cursor", "beforeShellExecution ask", S::Ask, kCursorShell, decide(Outcome::Ask, "confirm"),
       R"({"permission":"ask","user_message":"confirm","agent_message":"confirm"})" "\n", "", 0},
      {"cursor", "beforeShellExecution allow", S::AllowOrContinue, kCursorShell, decide(Outcome::Allow),
       R"({"permission":"allow"})" "\n", "", 0},
      {"cursor", "beforeShellExecution continue", S::AllowOrContinue, kCursorShell, decide(Outcome::Continue), "{}\n", "", 0},
      {"cursor", "beforeShellExecution budget: deny", S::ContinueFalse, kCursorShell, budget_stop(),
       R"({"permission":"deny","user_message":")" + kBudget + R"(","agent_message":")" + kBudget + R"("})" "\n", "", 0},
      {"cursor", "preToolUse allow with updated_input", S::AllowOrContinue, kCursorPreTool,
       with_update(decide(Outcome::Allow), {{"command", "npm test -- --ci"}}),
       R"({"permission":"allow","updated_input":{"command":"npm test -- --ci"}})" "\n", "", 0},
      {"cursor", "beforeMCPExecution deny", S::Deny, kCursorMcp, decide(Outcome::Deny, "/repo/x is leased"),
       R"({"permission":"deny","user_message":"/repo/x is leased","agent_message":"/repo/x is leased"})" "\n", "", 0},
      {"cursor", "beforeReadFile deny", S::Deny, kCursorRead, decide(Outcome::Deny, "secrets stay unread"),
       R"({"permission":"deny","user_message":"secrets stay unread","agent_message":"secrets stay unread"})" "\n", "", 0},
      {"cursor", "stop block", S::StopBlock, kCursorStop, decide(Outcome::BlockStop, "run the tests"),
       R"({"followup_message":"run the tests"})" "\n", "", 0},
      {"cursor", "stop ask degrades", S::Ask, kCursorStop, decide(Outcome::Ask, "confirm"),
       R"({"followup_message":"approval required: confirm"})" "\n", "", 0},
      {"cursor", "stop continue", S::AllowOrContinue, kCursorStop, decide(Outcome::Continue), "{}\n", "", 0},
      {"cursor", "stop after status aborted: no followup", S::Other, kCursorStopAborted, decide(Outcome::BlockStop, "x"), "{}\n", "", 0},
      {"cursor", "subagentStop block", S::StopBlock, kCursorSubagentStop, decide(Outcome::BlockStop, "lint fails"),
       R"({"followup_message":"lint fails"})" "\n", "", 0},
      {"cursor", "beforeSubmitPrompt deny", S::Deny, kCursorPrompt, decide(Outcome::Deny, "no"),
       R"({"continue":false,"user_message":"no"})" "\n", "", 0},
      {"cursor", "beforeSubmitPrompt continue:false", S::ContinueFalse, kCursorPrompt, budget_stop(Outcome::Continue),
       R"({"continue":false,"user_message":")" + kBudget + R"("})" "\n", "", 0},
      {"cursor", "beforeSubmitPrompt continue", S::AllowOrContinue, kCursorPrompt, decide(Outcome::Continue),
       R"({"continue":true})" "\n", "", 0},

      // ---- copilot: only a preToolUse deny is acted on
      {"copilot", "preToolUse deny", S::Deny, kCopilotPre, decide(Outcome::Deny, "force push"),
       R"({"permissionDecision":"deny","permissionDecisionReason":"force push"})" "\n", "", 0},
      {"copilot", "preToolUse ask degrades to deny", S::Ask, kCopilotPre, decide(Outcome::Ask, "check"),
       R"({"permissionDecision":"deny","permissionDecisionReason":"approval required: check"})" "\n", "", 0},
      {"copilot", "preToolUse allow", S::AllowOrContinue, kCopilotPre, decide(Outcome::Allow, "allowed by rule"),
       R"({"permissionDecision":"allow","permissionDecisionReason":"allowed by rule"})" "\n", "", 0},
      {"copilot", "preToolUse continue", S::AllowOrContinue, kCopilotPre, decide(Outcome::Continue), "", "", 0},
      {"copilot", "preToolUse budget: deny", S::ContinueFalse, kCopilotPre, budget_stop(),
       R"({"permissionDecision":"deny","permissionDecisionReason":")" + kBudget + R"("})" "\n", "", 0},
      {"copilot", "postToolUse cannot block", S::Other, kCopilotPost, decide(Outcome::Deny, "x"), "", "", 0},
      {"copilot", "agentStop cannot block", S::StopBlock, kCopilotAgentStop, decide(Outcome::BlockStop, "tests fail"), "", "", 0},

      // ---- windsurf: exit 2 and stderr, no JSON, no ask
      {"windsurf", "pre_run_command deny", S::Deny, kWindsurfRun, decide(Outcome::Deny, "discards changes"), "", "discards changes\n", 2},
      {"windsurf", "pre_run_command ask degrades", S::Ask, kWindsurfRun, decide(Outcome::Ask, "confirm"), "",
       "approval required: confirm\n", 2},
      {"windsurf", "pre_run_command allow", S::AllowOrContinue, kWindsurfRun, decide(Outcome::Allow), "", "", 0},
      {"windsurf", "pre_run_command continue", S::AllowOrContinue, kWindsurfRun, decide(Outcome::Continue, "", "ctx"), "", "", 0},
      {"windsurf", "pre_run_command budget: deny", S::ContinueFalse, kWindsurfRun, budget_stop(), "", kBudget + "\n", 2},
      {"windsurf", "pre_run_command continue:false alone", S::ContinueFalse, kWindsurfRun, budget_stop(Outcome::Continue), "",
       kBudget + "\n", 2},
      {"windsurf", "pre_user_prompt deny", S::Deny, kWindsurfPrompt, decide(Outcome::Deny, "prompt refused"), "", "prompt refused\n", 2},
      {"windsurf", "pre_mcp_tool_use deny", S::Deny, kWindsurfMcp, decide(Outcome::Deny, "tool denied"), "", "tool denied\n", 2},
      {"windsurf", "post_run_command cannot block", S::Other, kWindsurfPostRun, decide(Outcome::Deny, "x"), "", "", 0},
      {"windsurf", "post_cascade_response is advisory", S::StopBlock, kWindsurfResponse, decide(Outcome::BlockStop, "x"), "", "", 0},

      // ---- cline: always one JSON object, exit 0
      {"cline", "PreToolUse deny", S::Deny, kClinePre, decide(Outcome::Deny, "home"), R"({"cancel":true,"errorMessage":"home"})" "\n", "", 0},
      {"cline", "PreToolUse ask degrades", S::Ask, kClinePre, decide(Outcome::Ask, "check"),
       R"({"cancel":true,"errorMessage":"approval required: check"})" "\n", "", 0},
      {"cline", "PreToolUse allow", S::AllowOrContinue, kClinePre, decide(Outcome::Allow), R"({"cancel":false})" "\n", "", 0},
      {"cline", "PreToolUse continue", S::AllowOrContinue, kClinePre, decide(Outcome::Continue), R"({"cancel":false})" "\n", "", 0},
      {"cline", "PreToolUse context", S::AllowOrContinue, kClinePre, decide(Outcome::Continue, "", "lease held"),
       R"({"cancel":false,"contextModification":"lease held"})" "\n", "", 0},
      {"cline", "PreToolUse budget: deny", S::ContinueFalse, kClinePre, budget_stop(),
       R"({"cancel":true,"errorMessage":")" + kBudget + R"("})" "\n", "", 0},
      {"cline", "TaskComplete continue:false", S::ContinueFalse, kClineComplete, budget_stop(Outcome::Continue),
       R"({"cancel":true,"errorMessage":")" + kBudget + R"("})" "\n", "", 0},
      {"cline", "TaskComplete block", S::StopBlock, kClineComplete, decide(Outcome::BlockStop, "tests fail"),
       R"({"cancel":true,"errorMessage":"tests fail","contextModification":"tests fail"})" "\n", "", 0},
  };
}

// ---- bad input: parse() throws, render_unreadable() blocks --------------------------------------

struct BadInput {
  const char* dialect;
  std::string input;
  std::string error;  // exact HookInputError message
  bool json_deny;     // the agent acts only on a deny JSON (Copilot)
};

std::vector<BadInput> bad_inputs() {
  return {
      {"claude", R"({"session_id":"abc123","cwd":"/repo","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"description":"x"},"tool_use_id":"t"})",
       R"(claude: hook input lacks the required field "tool_input.command")", false},
      {"claude", R"({"session_id":"abc123","hook_event_name":"PreToolUse","tool_name":"Bash"})",
       R"(claude: hook input lacks the required field "tool_input.command")", false},
      {"claude", R"({"hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{"command":42}})",
       R"(claude: field "tool_input.command" must be a string (or an array of strings))", false},
      {"claude", R"({"hook_event_name":"PreToolUse","tool_input":{}})", R"(claude: hook input lacks the required field "tool_name")", false},
      // A file tool without its path would skip the lease gate and every path rule.
      {"claude", R"({"session_id":"abc123","hook_event_name":"PreToolUse","tool_name":"Edit","tool_input":{"old_string":"a","new_string":"b"}})",
       R"(claude: hook input lacks the required field "tool_input.file_path")", false},
      {"claude", R"({"session_id":"abc123","hook_event_name":"PreToolUse","tool_name":"Write","tool_input":{"file_path":"","content":"x"}})",
       R"(claude: hook input lacks the required field "tool_input.file_path")", false},
      {"claude", R"({"session_id":"x"})", R"(claude: hook input lacks the required field "hook_event_name")", false},
      {"codex", R"({"turn_id":"t1","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":["bash",1]}})",
       R"(codex: field "tool_input.command" must be a string (or an array of strings))", false},
      {"codex", R"({"turn_id":"t1","hook_event_name":"PreToolUse","tool_name":"unified_exec","tool_input":{}})",
       R"(codex: hook input lacks the required field "tool_input.command")", false},
      {"gemini", R"({"session_id":"g1","hook_event_name":"BeforeTool","timestamp":"2026-08-01T10:00:00Z","tool_name":"run_shell_command","tool_input":{"description":"x"}})",
       R"(gemini: hook input lacks the required field "tool_input.command")", false},
      {"cursor", R"({"hook_event_name":"beforeShellExecution","conversation_id":"c","cursor_version":"2.0.77","cwd":"/repo"})",
       R"(cursor: hook input lacks the required field "command")", false},
      {"cursor", R"({"hook_event_name":"beforeShellExecution","conversation_id":"c","cursor_version":"2.0.77","command":["rm"]})",
       R"(cursor: field "command" must be a string)", false},
      {"cursor", R"({"hook_event_name":"preToolUse","conversation_id":"c","cursor_version":"2.1.0","tool_name":"Shell","tool_input":{}})",
       R"(cursor: hook input lacks the required field "tool_input.command")", false},
      {"copilot", R"({"timestamp":1754000000000,"cwd":"/repo","toolName":"bash","toolArgs":"{\"description\":\"x\"}"})",
       R"(copilot: hook input lacks the required field "toolArgs.command")", true},
      {"copilot", R"({"timestamp":1754000000000,"cwd":"/repo","toolName":"bash","toolArgs":"rm -rf /"})",
       R"(copilot: hook input lacks the required field "toolArgs.command")", true},
      {"copilot", R"({"timestamp":1754000000000,"cwd":"/repo"})",
       "copilot: cannot tell the hook event (no hookEventName, toolName, prompt, source or reason)", true},
      {"windsurf", R"({"agent_action_name":"pre_run_command","trajectory_id":"tr1"})",
       R"(windsurf: hook input lacks the required field "tool_info")", false},
      {"windsurf", R"({"agent_action_name":"pre_user_prompt","trajectory_id":"tr1","tool_info":"hi"})",
       R"(windsurf: field "tool_info" must be an object)", false},
      {"windsurf", R"({"agent_action_name":"pre_run_command","trajectory_id":"tr1","tool_info":{"cwd":"/repo"}})",
       R"(windsurf: hook input lacks the required field "tool_info.command_line")", false},
      {"windsurf", R"({"agent_action_name":"pre_write_code","trajectory_id":"tr1","tool_info":{"edits":[]}})",
       R"(windsurf: hook input lacks the required field "tool_info.file_path")", false},
      {"windsurf", R"({"agent_action_name":"pre_mcp_tool_use","trajectory_id":"tr1","tool_info":{"mcp_tool_name":"create_issue"}})",
       R"(windsurf: hook input lacks the required field "tool_info.mcp_server_name")", false},
      {"windsurf", R"({"agent_action_name":"post_mcp_tool_use","trajectory_id":"tr1","tool_info":{"mcp_server_name":"github","mcp_tool_name":""}})",
       R"(windsurf: field "tool_info.mcp_tool_name" must be a non-empty string)", false},
      {"cline", R"({"clineVersion":"3.30.0","hookName":"PreToolUse","taskId":"t","preToolUse":{"toolName":"execute_command","parameters":{}}})",
       R"(cline: hook input lacks the required field "preToolUse.parameters.command")", false},
      {"cline", R"({"clineVersion":"3.30.0","hookName":"PreToolUse","taskId":"t"})",
       R"(cline: hook input lacks the required field "preToolUse")", false},
  };
}

}  // namespace

TEST_CASE("golden: each dialect renders real-shaped input exactly", "[hooks][dialect]") {
  std::map<std::string, std::set<Shows>> covered;
  for (const Golden& g : goldens()) {
    INFO(g.dialect << ": " << g.what);
    auto d = make_dialect(g.dialect);
    REQUIRE(d != nullptr);
    RenderResult r = run(*d, g.input, g.decision);
    CHECK(r.stdout_text == g.out);
    CHECK(r.stderr_text == g.err);
    CHECK(r.exit_code == g.exit_code);
    covered[g.dialect].insert(g.shows);
  }
  // Every dialect has a row for each decision kind, so a new one cannot skip a case.
  for (const char* name : {"claude", "codex", "gemini", "cursor", "copilot", "windsurf", "cline"}) {
    INFO(name);
    for (Shows s : {Shows::Deny, Shows::Ask, Shows::AllowOrContinue, Shows::StopBlock, Shows::ContinueFalse})
      CHECK(covered[name].count(s) == 1);
  }
}

TEST_CASE("golden: a missing core field is unreadable input, and unreadable input blocks", "[hooks][dialect]") {
  std::set<std::string> covered;
  for (const BadInput& b : bad_inputs()) {
    INFO(b.dialect << ": " << b.input);
    auto d = make_dialect(b.dialect);
    REQUIRE(d != nullptr);
    CHECK_THROWS_MATCHES(d->parse(b.input), HookInputError, Catch::Message(b.error));
    const std::string reason = "keel: unreadable hook input: " + b.error + " (blocked: the permission gate fails closed)";
    RenderResult r = d->render_unreadable(b.error);
    CHECK(r.stdout_text == (b.json_deny ? boost::json::serialize(boost::json::object{
                                              {"permissionDecision", "deny"}, {"permissionDecisionReason", reason}}) +
                                              "\n"
                                        : std::string()));
    CHECK(r.stderr_text == reason + "\n");
    CHECK(r.exit_code == 2);
    covered.insert(b.dialect);
  }
  CHECK(covered.size() == 7);
  // Copilot's deny JSON, spelt out once.
  CHECK(make_dialect("copilot")->render_unreadable("copilot: x").stdout_text ==
        R"J({"permissionDecision":"deny","permissionDecisionReason":"keel: unreadable hook input: copilot: x (blocked: the permission gate fails closed)"})J"
        "\n");
}

TEST_CASE("dialects: an explicitly empty command is a command, not a missing one", "[hooks][dialect]") {
  CHECK(make_dialect("claude")->parse(R"({"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":""}})").command.empty());
  CHECK(make_dialect("cursor")->parse(R"({"hook_event_name":"beforeShellExecution","conversation_id":"c","command":""})").tool ==
        ToolKind::Shell);
  CHECK(make_dialect("windsurf")->parse(R"({"agent_action_name":"pre_run_command","tool_info":{"command_line":""}})").kind ==
        EventKind::PreToolUse);
  // Events the gate does not judge keep their optional fields optional.
  HookEvent post = make_dialect("claude")->parse(R"({"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{}})");
  CHECK(post.kind == EventKind::PostToolUse);
  CHECK(post.command.empty());
  CHECK(make_dialect("windsurf")->parse(R"({"agent_action_name":"post_run_command"})").kind == EventKind::PostToolUse);
}

// hooks_dialect_inputs.h — real-shaped hook input of each agent (reference agent-hooks.md §1,
// §2), shared by the golden render tests and the parse tests.
#pragma once

inline constexpr const char* kClaudePre =
    R"({"session_id":"abc123","transcript_path":"/home/u/.claude/projects/p/abc123.jsonl","cwd":"/home/u/repo",)"
    R"("permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash",)"
    R"("tool_input":{"command":"npm test","description":"Run test suite","timeout":120000,"run_in_background":false},)"
    R"("tool_use_id":"toolu_01ABC123","some_future_field":{"x":1}})";
inline constexpr const char* kClaudeStop =
    R"({"hook_event_name":"Stop","session_id":"abc123","transcript_path":"t","cwd":"/repo","permission_mode":"default",)"
    R"("stop_hook_active":false,"last_assistant_message":"I've completed the refactoring","background_tasks":[],"session_crons":[]})";
inline constexpr const char* kClaudeSubagentStop =
    R"({"hook_event_name":"SubagentStop","session_id":"abc123","transcript_path":"/t/abc123.jsonl","cwd":"/repo",)"
    R"("permission_mode":"default","stop_hook_active":false,"agent_id":"def456","agent_type":"Explore",)"
    R"("agent_transcript_path":"/t/abc123/subagents/agent-def456.jsonl",)"
    R"("last_assistant_message":"Analysis complete. Found 3 potential issues","background_tasks":[],"session_crons":[]})";
inline constexpr const char* kClaudePreCompact =
    R"({"session_id":"abc123","transcript_path":"/t/abc123.jsonl","cwd":"/repo","hook_event_name":"PreCompact",)"
    R"("trigger":"auto","custom_instructions":""})";
inline constexpr const char* kClaudePermission =
    R"({"session_id":"abc123","transcript_path":"/t/abc123.jsonl","cwd":"/repo","permission_mode":"default",)"
    R"("hook_event_name":"PermissionRequest","tool_name":"Bash","tool_input":{"command":"npm run lint"},)"
    R"("permission_suggestions":[{"type":"addRules","rules":[{"toolName":"Bash","ruleContent":"npm run lint"}],"behavior":"allow","destination":"session"}]})";
inline constexpr const char* kClaudePrompt =
    R"({"session_id":"abc123","transcript_path":"/t/abc123.jsonl","cwd":"/repo","permission_mode":"default",)"
    R"("hook_event_name":"UserPromptSubmit","prompt":"refactor the auth module"})";
inline constexpr const char* kClaudeStart =
    R"({"session_id":"abc123","transcript_path":"/t/abc123.jsonl","cwd":"/repo","hook_event_name":"SessionStart",)"
    R"("source":"startup","model":"claude-sonnet-5"})";
inline constexpr const char* kClaudePost =
    R"({"session_id":"abc123","transcript_path":"/t/abc123.jsonl","cwd":"/repo","permission_mode":"default",)"
    R"("hook_event_name":"PostToolUse","tool_name":"Write","tool_input":{"file_path":"/repo/a.txt","content":"x"},)"
    R"("tool_response":{"filePath":"/repo/a.txt","success":true},"tool_use_id":"toolu_01X","duration_ms":12})";
inline constexpr const char* kClaudeFailure =
    R"({"session_id":"abc123","cwd":"/repo","hook_event_name":"PostToolUseFailure","tool_name":"Bash",)"
    R"("tool_input":{"command":"npm test"},"tool_use_id":"toolu_01Y",)"
    R"("error":"Exit code 1\nError: Cannot find module 'express'","is_interrupt":false,"duration_ms":4187})";
inline constexpr const char* kClaudeEnd = R"({"session_id":"abc123","cwd":"/repo","hook_event_name":"SessionEnd","reason":"exit"})";

inline constexpr const char* kCodexPre =
    R"({"session_id":"s","turn_id":"t1","model":"gpt-5","transcript_path":null,"cwd":"/repo",)"
    R"("hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":["bash","-lc","git push --force"]},)"
    R"("tool_use_id":"call_1"})";
inline constexpr const char* kCodexStop =
    R"({"session_id":"s","turn_id":"t1","model":"gpt-5","transcript_path":null,"cwd":"/repo","hook_event_name":"Stop",)"
    R"("stop_hook_active":false,"last_assistant_message":"done"})";

inline constexpr const char* kGeminiBefore =
    R"({"session_id":"g1","transcript_path":"/t","cwd":"/repo","hook_event_name":"BeforeTool",)"
    R"("timestamp":"2026-08-01T10:00:00Z","tool_name":"run_shell_command","tool_input":{"command":"rm -rf /","description":"x"},"mcp_context":null})";
inline constexpr const char* kGeminiAfter =
    R"({"session_id":"g1","transcript_path":"/t","cwd":"/repo","hook_event_name":"AfterTool","timestamp":"2026-08-01T10:00:01Z",)"
    R"("tool_name":"run_shell_command","tool_input":{"command":"npm test"},"tool_response":{"llmContent":"ok","returnDisplay":"ok"}})";
inline constexpr const char* kGeminiBeforeAgent =
    R"({"session_id":"g1","transcript_path":"/t","cwd":"/repo","hook_event_name":"BeforeAgent",)"
    R"("timestamp":"2026-08-01T10:00:00Z","prompt":"fix the tests"})";
inline constexpr const char* kGeminiAfterAgent =
    R"({"session_id":"g1","transcript_path":"/t","cwd":"/repo","hook_event_name":"AfterAgent","timestamp":"2026-08-01T10:05:00Z",)"
    R"("prompt":"fix the tests","prompt_response":"done","stop_hook_active":false})";

#define CURSOR_COMMON \
  R"("conversation_id":"conv-123","generation_id":"gen-456","workspace_roots":["/repo"],"model":"m","cursor_version":"2.0.77","user_email":null)"
inline constexpr const char* kCursorShell = R"({"hook_event_name":"beforeShellExecution",)" CURSOR_COMMON
    R"(,"command":"npm install express","cwd":"/repo"})";
inline constexpr const char* kCursorPreTool = R"({"hook_event_name":"preToolUse",)" CURSOR_COMMON
    R"(,"tool_name":"Shell","tool_input":{"command":"npm test"}})";
inline constexpr const char* kCursorMcp = R"({"hook_event_name":"beforeMCPExecution",)" CURSOR_COMMON
    R"(,"tool_name":"write","tool_input":"{\"path\":\"/repo/x\"}","url":"http://localhost:3000/mcp"})";
inline constexpr const char* kCursorRead = R"({"hook_event_name":"beforeReadFile",)" CURSOR_COMMON
    R"(,"file_path":"/repo/.env","content":"SECRET=1","attachments":[]})";
inline constexpr const char* kCursorStop = R"({"hook_event_name":"stop",)" CURSOR_COMMON R"(,"status":"completed","loop_count":0})";
inline constexpr const char* kCursorStopAborted = R"({"hook_event_name":"stop",)" CURSOR_COMMON R"(,"status":"aborted","loop_count":0})";
inline constexpr const char* kCursorStopError = R"({"hook_event_name":"stop",)" CURSOR_COMMON R"(,"status":"error","loop_count":1})";
inline constexpr const char* kCursorSubagentStop = R"({"hook_event_name":"subagentStop",)" CURSOR_COMMON R"(,"status":"completed","loop_count":0})";
inline constexpr const char* kCursorPrompt = R"({"hook_event_name":"beforeSubmitPrompt",)" CURSOR_COMMON R"(,"prompt":"hi","attachments":[]})";

inline constexpr const char* kCopilotPre =
    R"({"timestamp":1754000000000,"cwd":"/repo","toolName":"bash","toolArgs":"{\"command\":\"git push -f\",\"description\":\"push\"}"})";
inline constexpr const char* kCopilotPost =
    R"({"timestamp":1754000000001,"cwd":"/repo","toolName":"edit","toolArgs":"{\"path\":\"/repo/a.ts\"}",)"
    R"("toolResult":{"resultType":"failure","textResultForLlm":"boom"}})";
inline constexpr const char* kCopilotAgentStop = R"({"timestamp":1754000000002,"cwd":"/repo","sessionId":"sess-1","hookEventName":"agentStop"})";

#define WINDSURF_COMMON R"("trajectory_id":"tr1","execution_id":"ex1","timestamp":"2026-08-01T00:00:00Z","model_name":"swe-1")"
inline constexpr const char* kWindsurfRun = R"({"agent_action_name":"pre_run_command",)" WINDSURF_COMMON
    R"(,"tool_info":{"command_line":"git reset --hard","cwd":"/repo"}})";
inline constexpr const char* kWindsurfPostRun = R"({"agent_action_name":"post_run_command",)" WINDSURF_COMMON
    R"(,"tool_info":{"command_line":"npm test","cwd":"/repo"}})";
inline constexpr const char* kWindsurfPrompt = R"({"agent_action_name":"pre_user_prompt",)" WINDSURF_COMMON
    R"(,"tool_info":{"user_prompt":"delete the repo"}})";
inline constexpr const char* kWindsurfMcp = R"({"agent_action_name":"pre_mcp_tool_use",)" WINDSURF_COMMON
    R"(,"tool_info":{"mcp_server_name":"github","mcp_tool_name":"create_issue","mcp_tool_arguments":{"title":"x"}}})";
inline constexpr const char* kWindsurfResponse = R"({"agent_action_name":"post_cascade_response",)" WINDSURF_COMMON
    R"(,"tool_info":{"response":"done"}})";

#define CLINE_COMMON R"("clineVersion":"3.30.0","timestamp":"1754000000000","taskId":"task-9","workspaceRoots":["/repo"],"userId":"u")"
inline constexpr const char* kClinePre = R"({"hookName":"PreToolUse",)" CLINE_COMMON
    R"(,"preToolUse":{"toolName":"execute_command","parameters":{"command":"rm -rf ~","requires_approval":"false"}}})";
inline constexpr const char* kClineComplete = R"({"hookName":"TaskComplete",)" CLINE_COMMON
    R"(,"taskComplete":{"taskMetadata":{"taskId":"task-9"}}})";

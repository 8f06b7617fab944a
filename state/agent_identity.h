// keel/state/agent_identity.h — which agent session a keel process works for.
//
// The rule (README "Agent identity and liveness"):
//   * An agent (Claude Code, Codex, Gemini CLI, ...) starts keel's MCP server
//     and runs keel's hooks as its own children, directly or through a shell.
//     So both find the same agent process as their parent, skipping only
//     shells and exec wrappers (sh -c, bash -lc, env, timeout ...). That
//     process, {host, pid, start time}, anchors the session; the session's
//     name is "<product>:<12 hex digits of the anchor's hash>", the same for
//     the MCP server and every hook of that session, and different for a
//     second session of the same product (another process).
//   * The parent must be an agent keel recognises (product_of): a test
//     harness or script that starts keel is not an agent, and keel falls back
//     to the names it used before (clientInfo.name plus a random suffix for
//     the MCP server, the event's session_id for hooks).
//   * Subagents run inside their agent's process: they are that agent.
//   * --agent NAME / KEEL_AGENT override the name (and drop the anchor: a
//     name chosen by hand may be shared by several processes, so keel cannot
//     tell from one process whether its holder is gone).
//
// Thread safety: pure functions over a ProcessTable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "state/process_table.h"

namespace keel::state {

struct AgentAnchor {
  std::string product;    // "claude-code", "codex", "gemini", ...; "" for a client keel does not know
  ProcessAnchor process;  // the agent's process

  bool operator==(const AgentAnchor&) const = default;
};

// "claude-code", "codex", "gemini", "cursor", "copilot", "windsurf", "cline"
// when `p` is that agent's own process, else "".
std::string product_of(const ProcessInfo& p);

// True for shells and exec wrappers that may stand between an agent and the
// keel it starts (sh, bash, dash, zsh, env, timeout, nice, nohup, stdbuf ...).
bool is_intermediate(const ProcessInfo& p);

// The agent session that started process `pid`'s parent chain: walks up from
// `pid`'s parent through intermediates (at most 8) to the first other
// process; returns its anchor when it is a known agent, else nullopt.
std::optional<AgentAnchor> find_agent_anchor(const ProcessTable& table, std::int64_t pid);

// The same, from the calling process (its parent chain).
std::optional<AgentAnchor> find_own_agent_anchor(const ProcessTable& table);

// The anchor of the calling process's direct client: the first process above
// it that is not an intermediate, whatever it is (product ""). A stdio MCP
// server whose client keel does not recognise still dies with its client: its
// holds are freed when that process is gone.
std::optional<AgentAnchor> find_client_anchor(const ProcessTable& table);

// "<product>:<12 hex>" — stable for the session, readable in listings.
std::string agent_name_for(const AgentAnchor& anchor);

}  // namespace keel::state

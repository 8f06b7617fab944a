// approvals.h — approvals remembered per exact command (permission.remember_approvals).
//
// When the permission gate asked about a shell call and the person approved it — the agent's
// PostToolUse for that very call arrives — the same exact command line (leading/trailing blanks
// trimmed), in the same working directory, by the same agent (subagents apart), is allowed for
// the rest of that agent session without asking again. Never a pattern, never another command,
// never another session. A denial is never remembered: without the PostToolUse the ask stays
// pending, and a PreToolUse the gate or another policy denies is not touched.
//
// Storage: the store's memory, session tier, own namespace of the reserved principal
// "keel:hooks" (policy_state.h), scoped by the event's session_id, one key per command:
// "hooks.approval.<16 hex>", value {"state": "pending"|"approved", "command", "cwd", "agent",
// "tool_use_id"}. Swept with the session (SessionEnd deletes only hooks.state; the session
// tier's orphan sweep takes the rest). Remembering journals APPROVAL_REMEMBERED (subject: the
// command), which `keel hook approvals` lists.
//
// Cost: only an ask (already journaled, so the store is open) and a shell PostToolUse read it.
// Errors: store errors propagate (the engine reports them and keeps the gate's ask).
#pragma once

#include <optional>
#include <string>

#include "hooks/hook_event.h"
#include "state/store.h"

namespace keel::hooks {

inline constexpr std::string_view kApprovalRemembered = "APPROVAL_REMEMBERED";

struct ApprovalKey {
  std::string key;      // "hooks.approval.<16 hex>"
  std::string command;  // the normalised command line
};

// The key of a shell tool call of a session; nullopt for anything else.
std::optional<ApprovalKey> approval_key(const HookEvent& ev);

// PreToolUse answered "ask": true when this exact command was approved earlier in the session
// (the caller then allows it), else records the ask as pending and returns false.
bool approved_or_pending(state::Store& store, const state::Principal& who, const HookEvent& ev,
                         const ApprovalKey& k);

// PostToolUse of a shell call: a pending ask for it becomes an approval (journaled). Returns
// true when it did.
bool remember_if_pending(state::Store& store, const state::Principal& who, const HookEvent& ev,
                         const ApprovalKey& k);

}  // namespace keel::hooks

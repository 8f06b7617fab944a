// http_hooks.h — the policy engine behind HTTP: Claude Code's `type: "http"` hooks POST the same
// JSON a command hook reads on stdin to `POST /hooks/<dialect>`.
//
// Contract (agent-hooks.md §1.9, "HTTP hook responses"):
// - A known dialect answers 200 with the dialect's JSON decision as the body (an empty body for
//   "no opinion"), because a status code cannot block: a deny must be a 2xx with deny JSON.
//   Where the dialect's command form would exit 2 with only stderr, the body is
//   {"decision":"block","reason":<stderr without its final newline>} instead.
// - An unreadable or incomplete event (the dialect's parse() throws, dialect.h) mirrors
//   `keel hook`: while the permission gate fails closed (HooksConfig::permission_fail_closed,
//   the default) it answers 200 with the dialect's render_unreadable() as above (for claude
//   {"decision":"block","reason":"keel: unreadable hook input: ..."}), because Claude Code
//   treats any 4xx as a non-blocking error and would let the call through; fail-open → 400 with
//   {"error": ...}. The parse error is also in HttpHookReply::errors.
// - Problems that are not the event's: an unknown dialect → 404; a method other than POST →
//   405; a body over kMaxHookInput → 413 (the server's own body limit, usually lower, answers
//   413 before this). Policy failures follow each policy's fail mode.
// - `principal_for` names the agent the event acts for (the bearer token's principal, else the
//   server's agent, else the event's session). Every decision is journaled by the engine.
// - Thread-safe when the engine and the store are (both are meant to be shared).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "hooks/engine.h"
#include "state/store.h"

namespace keel::hooks {

struct HttpHookReply {
  unsigned status = 200;
  std::string body;  // application/json (or empty)
  std::vector<std::string> errors;  // policy failures, for the server's log
};

using PrincipalFor = std::function<state::Principal(const HookEvent&)>;

HttpHookReply answer_http_hook(const HookEngine& engine, std::string_view method,
                               std::string_view dialect_name, std::string_view body,
                               const PrincipalFor& principal_for, state::Store& store);

}  // namespace keel::hooks

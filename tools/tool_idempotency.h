// keel/tools/tool_idempotency.h — `request_id` on every tool that changes
// state: a retried call (same id, same arguments) returns the first call's
// result instead of running again.
//
// Stated once for all tools: idempotency_decorator wraps each tool whose
// annotations say it is not read-only and whose inputSchema has no
// `request_id` of its own (lease_acquire and escalation_request keep theirs).
// The wrapped tool's inputSchema gains an optional `request_id` (a string of
// 1..128 characters, at most state::kMaxRequestIdBytes bytes). A call without
// one runs as before. A call with one:
//   * its arguments are hashed (canonical_args_hash: keys sorted at every
//     level, request_id itself left out) and the id is claimed in the store
//     (Store::claim_request, per project, agent and tool);
//   * new: the tool runs. A successful result is stored and the id is done;
//     a failure (a tool error, any exception, a modern-era
//     InputRequiredResult, which is not an answer yet, or a call the client
//     cancelled, even one that returned normally, as fanout_run does) drops
//     the claim, so a retry with the same id runs the tool again: a failed
//     call changed nothing the retry must not repeat (the store's writes are
//     atomic). Except a failure whose outcome is unknown (Failure /
//     StoreError::outcome_unknown: a PostgreSQL COMMIT whose answer was
//     lost and could not be looked up): its claim stays until stale, so a
//     retry is BUSY meanwhile rather than run at once what may have been
//     done. The claim is this call's own (RequestClaim::claim_id): once
//     taken over by a retry, this call's result or failure leaves it alone;
//   * done before with the same arguments: the first result is returned as
//     it was, nothing runs, nothing is journaled. It is marked in the result's
//     _meta["dev.keel/replay"] = {"request_id", "first_call_at" (ms since the
//     Unix epoch)} and its text ends with a line saying it is a replay;
//   * used before with other arguments: INVALID_ARGUMENT naming the id;
//   * still running (claimed, not done, and not stale): BUSY — retry later
//     for the result. A claim goes stale requests.claim_stale after the
//     call's own expected time: its `wait_ms` argument (memory_take,
//     memory_get, lease waits, ...) or fanout_run's `budget.wall_ms`, when
//     given. A stale claim is taken over (its caller died): the only case
//     where a call runs twice. So a fanout_run without budget.wall_ms that
//     runs longer than requests.claim_stale may run twice on a retry.
// Ids are remembered for requests.retention (StoreOptions).
//
// Thread safety: the decorated handlers are as thread-safe as the tools they
// wrap and the store.
#pragma once

#include <memory>
#include <string>

#include <boost/json/object.hpp>

#include "mcp/tool.h"
#include "tools/tools.h"

namespace keel::tools {

// Where a replayed result says it is one.
inline constexpr std::string_view kReplayMetaKey = "dev.keel/replay";

// The decorator for mcp::ToolRegistry::set_decorator: makes every mutating
// tool added afterwards idempotent by request_id (see above); returns the
// other tools unchanged. `env` must outlive the registry.
mcp::ToolDecorator idempotency_decorator(std::shared_ptr<const ToolEnv> env);

// SHA-256 (hex) of `args` without its top-level "request_id", serialized
// with the keys of every object sorted (byte order): the same for the same
// arguments in any key order.
std::string canonical_args_hash(const boost::json::object& args);

}  // namespace keel::tools

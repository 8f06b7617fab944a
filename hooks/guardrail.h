// guardrail.h — stops an agent from hammering the same failing call, and warns when it runs in
// circles.
//
// Contract (per agent session, reset at every new turn):
// - A tool call's fingerprint is its tool name plus a hash of its whole input. A failed call
//   (PostToolUseFailure, or a post-tool event the dialect marks failed) bumps its fingerprint's
//   failure count; a success clears it. On PreToolUse, a fingerprint that already failed
//   max_failures times is denied (rule guardrail:repeated-failure), so the agent must change
//   the call instead of retrying it.
// - Progress is a successful Write/Edit/Delete tool call, or a successful call whose output
//   (tool_response) was not seen before in the turn. After no_progress_calls post-tool events
//   in a row without progress, the post-tool event carries a warning (systemMessage for the
//   user, additionalContext for the model); again after as many more.
// - Hard stop (no_progress_block > 0, off by default): once the calls without progress reach
//   no_progress_block, the agent's section is marked "stuck" and every PreToolUse that does not
//   edit (a Write/Edit/Delete tool) is denied (rule guardrail:no-progress-block) until a
//   successful edit or the next turn. The mark is what failure_hint.h's marker also covers, so
//   a PreToolUse still skips the store unless some agent of the session is stuck.
// - Memory is bounded for the whole session, not per agent: the agents (subagents included)
//   share 256 failure fingerprints and 512 output hashes, oldest forgotten first, so the
//   session state stays within the store's value limit (64 KiB by default) beside the budget's.
// - PreToolUse only reads the state; post-tool events write it.
// - Stateless object; evaluate is const and thread-safe.
#pragma once

#include <boost/json.hpp>

#include "hooks/hook_event.h"
#include "hooks/hooks_config.h"
#include "hooks/policy.h"
#include "hooks/policy_state.h"

namespace keel::hooks {

class Guardrail : public SessionPolicy {
 public:
  explicit Guardrail(GuardrailConfig cfg) : cfg_(cfg) {}

  // SessionPolicy (policy.h).
  std::string_view name() const noexcept override { return "guardrail"; }
  bool concerns(const HookEvent& ev) const override;
  HookDecision decide(const PolicyCall& call) const override;
  bool enabled() const noexcept override { return cfg_.enabled; }
  // A PreToolUse can only be denied for failures (or a "stuck" mark) on record.
  bool idle_without_failures(const HookEvent& ev) const noexcept override {
    return ev.kind == EventKind::PreToolUse;
  }
  HookDecision evaluate(const PolicyInput& in, boost::json::object& state, bool& changed) const;

 private:
  GuardrailConfig cfg_;
};

// The fingerprint of a tool call: tool name and a hash of its input.
std::string call_fingerprint(const HookEvent& ev);

}  // namespace keel::hooks

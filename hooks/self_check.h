// self_check.h — one forced verification round before an agent may finish a turn.
//
// Contract (per agent session and turn; a turn starts at UserPromptSubmit):
// - Concerns Stop (and SubagentStop when SelfCheckConfig::subagents), and tool events (to see
//   that the agent worked after a block); off unless enabled.
// - The first Stop of a turn is blocked with the checklist (rule self_check:checklist). A later
//   Stop is accepted once the agent ran at least one tool (PreToolUse / PostToolUse /
//   PostToolUseFailure seen) since the block; without one it is blocked again
//   (self_check:no-tool-run), at most max_blocks blocks per turn, after which the stop is
//   accepted with a systemMessage (self_check:cap).
// - Tool events only write the state when a block is pending and no tool was seen yet.
// - Stateless object; evaluate is const and thread-safe.
#pragma once

#include <boost/json.hpp>

#include "hooks/hook_event.h"
#include "hooks/hooks_config.h"
#include "hooks/policy.h"
#include "hooks/policy_state.h"

namespace keel::hooks {

class SelfCheck : public SessionPolicy {
 public:
  explicit SelfCheck(SelfCheckConfig cfg) : cfg_(std::move(cfg)) {}

  // SessionPolicy (policy.h).
  std::string_view name() const noexcept override { return "self_check"; }
  bool concerns(const HookEvent& ev) const override;
  HookDecision decide(const PolicyCall& call) const override;
  bool enabled() const noexcept override { return cfg_.enabled; }
  HookDecision evaluate(const PolicyInput& in, boost::json::object& state, bool& changed) const;

 private:
  SelfCheckConfig cfg_;
};

}  // namespace keel::hooks

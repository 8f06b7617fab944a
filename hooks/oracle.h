// oracle.h — on Stop, runs the configured check (tests, lint, build) and refuses the stop while
// it fails.
//
// Contract:
// - Concerns Stop, and SubagentStop when OracleConfig::subagents; off when command is "".
// - Runs the command through run_check (check_runner.h) in the event's cwd (else `default_cwd`)
//   with timeout_ms. Passed (exit 0) → Continue. Failed or timed out → BlockStop whose reason
//   names the command and its exit status and ends with the tail of its output (tail_lines /
//   tail_bytes), rule oracle:failed / oracle:timeout.
// - Counts its consecutive blocks per agent session: a stop with stop_hook_active false (or
//   Cursor's loop_count 0) starts the count afresh; once max_blocks blocks were made and the
//   agent is still continuing because of a stop hook, the stop is let through with a
//   systemMessage (rule oracle:cap), so keel gives up before the agent's own cap (Claude: 8).
// - The check result is memoised in `memo` so a retried evaluation (lost compare-and-set on the
//   state) does not run the command twice.
// - A check that cannot run — run_check throws (no such directory, no /bin/sh) or the shell
//   exits 126/127 (not executable, command not found) — has not passed: BlockStop, rule
//   oracle:cannot-run, counted against max_blocks like a failure. With fail_closed false
//   (hooks.oracle.fail_closed), run_check's throw propagates instead: the engine's failure path
//   lets the stop through (oracle:error), the behaviour before fail_closed defaulted to true.
// - Stateless object; evaluate is const and thread-safe.
#pragma once

#include <boost/json.hpp>

#include <optional>
#include <string>

#include "hooks/check_runner.h"
#include "hooks/hook_event.h"
#include "hooks/hooks_config.h"
#include "hooks/policy.h"
#include "hooks/policy_state.h"

namespace keel::hooks {

class Oracle : public SessionPolicy {
 public:
  Oracle(OracleConfig cfg, std::string default_cwd = {})
      : cfg_(std::move(cfg)), default_cwd_(std::move(default_cwd)) {}

  // SessionPolicy (policy.h).
  std::string_view name() const noexcept override { return "oracle"; }
  bool concerns(const HookEvent& ev) const override;
  HookDecision decide(const PolicyCall& call) const override;
  bool enabled() const noexcept override { return !cfg_.command.empty(); }
  // A command that could not start is not started again in a later round.
  bool retries_after_error() const noexcept override { return false; }
  HookDecision evaluate(const PolicyInput& in, boost::json::object& state, bool& changed,
                        std::optional<CheckResult>& memo) const;

 private:
  OracleConfig cfg_;
  std::string default_cwd_;
};

// Whether the agent is already continuing because a stop hook blocked (Claude/Codex/Gemini
// stop_hook_active, Cursor loop_count > 0).
bool continuing_after_stop_hook(const HookEvent& ev);

}  // namespace keel::hooks

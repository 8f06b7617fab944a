// engine.h — the policy engine behind `keel hook` and the HTTP hooks: one HookEvent in, one
// HookDecision out, journaled.
//
// Contract:
// - decide() runs, in order, each policy (policy.h) on the events it concerns, all on one
//   AnalysedEvent (the shell command parsed once, the written paths computed once):
//     permission gate  PreToolUse, PermissionRequest (pure; no store)
//     lease gate       PreToolUse, PermissionRequest that write a path; release
//                      asks on the events whose answer shows context (one stat()
//                      when none wait: lease_gate.h)
//     budget           every event of a session with a transcript (when a ceiling is set)
//     guardrail        PreToolUse, PostToolUse, PostToolUseFailure, UserPromptSubmit
//     oracle           Stop (SubagentStop), UserPromptSubmit (turn reset)
//     self-check       Stop (SubagentStop), tool events, UserPromptSubmit (turn reset)
//   and SessionEnd deletes the session's policy state. The store is opened (through the
//   caller's StoreOpener) only when a policy needs it, or to journal a decision that is not a
//   plain Continue. With a hint_dir, a PreToolUse that only the guardrail asks about skips the
//   store while the session has no failure on record (failure_hint.h).
// - Combination: the most severe outcome wins (Deny/BlockStop > Ask > Allow > Continue; first
//   policy wins a tie) with its reason, rule and updated input; continue_=false from any policy
//   beats everything (its stopReason kept); systemMessage and additionalContext of every policy
//   are joined with newlines. The self-check does not block a stop the oracle already blocks.
// - A policy that throws decides by its fail mode (HooksConfig): fail-closed → Deny on tool and
//   prompt events, BlockStop on stop events (rule "<policy>:error"); fail-open → no opinion.
//   Either way the error is reported in EngineResult::errors (the CLI prints them on stderr).
// - The stateful policies share one state object per session (policy_state.h), loaded and
//   saved with compare-and-set; a lost race re-runs them on the fresh state (the oracle's
//   command result is reused, not re-run).
// - One HOOK journal record (principal `who`) per decided event that opened the store or says
//   something (any outcome but a plain Continue, a message, a rule such as "lease:auto"); with
//   HooksConfig::journal_all, per every decided event (a store write per tool call). Payload:
//   dialect, event, session_id, outcome, rule, reason, tool, command, paths, and "policies":
//   every policy that said something, with its outcome and rule.
// - Thread-safety: a HookEngine is immutable after construction; decide() may run concurrently
//   from many threads (the HTTP server shares one engine) as long as the Store is thread-safe.
#pragma once

#include <array>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "hooks/analysed_event.h"
#include "hooks/budget.h"
#include "hooks/failure_hint.h"
#include "hooks/guardrail.h"
#include "hooks/hook_event.h"
#include "hooks/hooks_config.h"
#include "hooks/lease_gate.h"
#include "hooks/oracle.h"
#include "hooks/permission_gate.h"
#include "hooks/policy.h"
#include "hooks/self_check.h"
#include "state/store.h"

namespace keel::hooks {

struct PolicyVerdict {
  std::string policy;  // "permission", "lease", "budget", "guardrail", "oracle", "self_check"
  HookDecision decision;
};

struct EngineResult {
  HookDecision decision;
  std::vector<PolicyVerdict> verdicts;  // policies that said something (not a silent Continue)
  std::vector<std::string> errors;      // "<policy>: <what failed>"
  bool journaled = false;
};

class HookEngine {
 public:
  // Builds the permission gate once. `default_cwd` is where the oracle runs for events without
  // a cwd. `hint_dir` (the state directory's hooks/) keeps the failure hints that let a
  // PreToolUse skip the store (failure_hint.h); every engine saving session state into one
  // store must use the same hint_dir, or none. Throws GateConfigError for an invalid gate config.
  HookEngine(HooksConfig config, GateConfig gate, std::string default_cwd = {},
             std::filesystem::path hint_dir = {});

  EngineResult decide(const AnalysedEvent& ev, const state::Principal& who,
                      const StoreOpener& open_store) const;
  EngineResult decide(const HookEvent& ev, const state::Principal& who,
                      const StoreOpener& open_store) const {
    return decide(AnalysedEvent(ev), who, open_store);
  }

  const HooksConfig& config() const { return config_; }

 private:
  // Remembered approvals (approvals.h): a PreToolUse ask of a command approved earlier in the
  // session becomes an allow; a PostToolUse of an asked call remembers it.
  void approvals(const AnalysedEvent& in, const state::Principal& who, LazyStore& store,
                 EngineResult& out) const;
  // The stale-read guard (stale_read.h), when hooks.lease_gate.stale_read.
  void stale_reads(const AnalysedEvent& in, const state::Principal& who, LazyStore& store,
                   EngineResult& out) const;
  // A policy with its fail mode (hooks.<policy>.fail_closed), in the order decide() runs them.
  struct Slot {
    const Policy* policy;
    bool fail_closed;
  };
  std::array<Slot, 6> policies() const;
  void decide_session(const AnalysedEvent& ev, const state::Principal& who, LazyStore& store,
                      EngineResult& out) const;
  // What the session policies said in the last compare-and-set round (by slot).
  struct SessionVerdicts {
    std::vector<std::pair<std::size_t, HookDecision>> decided;
    std::vector<std::pair<std::size_t, std::string>> failed;
  };
  // Runs the session policies on the session's state until a round saves (or changes nothing);
  // throws when the state cannot be read or written, or keeps changing.
  void run_session_rounds(const AnalysedEvent& ev, const state::Principal& who, LazyStore& store,
                          const FailureHint& hint, SessionVerdicts& out) const;

  HooksConfig config_;
  PermissionGate gate_;
  LeaseGate lease_;
  Budget budget_;
  Guardrail guardrail_;
  Oracle oracle_;
  SelfCheck self_check_;
  std::filesystem::path hint_dir_;
};

// Most-severe-wins combination of `add` into `acc` (see the contract above).
void combine(HookDecision& acc, const HookDecision& add);

// The decision a policy that could not decide gives under fail-closed for this event: deny a
// tool call or prompt, block a stop — once: a stop the agent makes while continuing because of
// a stop hook is let through with a systemMessage (the policy cannot count its blocks).
HookDecision fail_closed_decision(const HookEvent& ev, const std::string& policy,
                                  const std::string& what);

}  // namespace keel::hooks

// hooks_config.h — the `hooks` section of keel.jsonc: how each policy of `keel hook` behaves.
//
// Contract:
// - HooksConfig{} holds the built-in defaults, which configs/keel.jsonc repeats verbatim.
// - parse_hooks_config(v) reads the section (null → defaults). An unknown key, a wrong type or an
//   out-of-range value throws HooksConfigError whose message names the key ("hooks.budget.x").
// - fail_closed says what a policy does when it cannot decide (its state, the transcript or the
//   check command is unavailable, or the hook input is unreadable): true → the agent's block
//   outcome, false → no opinion. Defaults: both gates, the oracle and the self-check fail closed (a
//   check that cannot run has not passed), budget and guardrail fail open.
// - A value type, copied freely; no thread-safety concerns.
#pragma once

#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

namespace keel::hooks {

class HooksConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// US dollars per million tokens of each kind (defaults: Claude Sonnet list prices).
struct TokenPrices {
  double input = 3.0;
  double output = 15.0;
  double cache_write = 3.75;
  double cache_read = 0.30;
  bool operator==(const TokenPrices&) const = default;
};

struct BudgetConfig {
  bool fail_closed = false;
  // Ceilings; 0 = none. Tokens count input + output + cache writes + cache reads.
  std::int64_t session_tokens = 0;
  double session_cost_usd = 0;
  std::int64_t turn_tokens = 0;
  double turn_cost_usd = 0;
  // A warning (systemMessage) once a ceiling is this fraction used.
  double warn_ratio = 0.8;
  TokenPrices prices;
  // Model-name glob → prices, tried in key order before `prices`.
  std::map<std::string, TokenPrices> model_prices;

  bool enabled() const {
    return session_tokens > 0 || session_cost_usd > 0 || turn_tokens > 0 || turn_cost_usd > 0;
  }
  bool operator==(const BudgetConfig&) const = default;
};

struct GuardrailConfig {
  bool enabled = true;
  bool fail_closed = false;
  // A call (same tool, same input) that failed this many times in the turn is denied when tried
  // again; 0 = off.
  int max_failures = 3;
  // Warn after this many consecutive tool calls without progress (no successful edit/write and
  // no output not seen before in the turn); 0 = off.
  int no_progress_calls = 25;
  // Hard stop: after this many consecutive tool calls without progress, the next call that does
  // not edit (Write/Edit/Delete tools) is denied until the agent edits or the turn ends; 0 = off.
  int no_progress_block = 0;
  bool operator==(const GuardrailConfig&) const = default;
};

struct OracleConfig {
  bool fail_closed = true;  // a check that cannot run blocks the stop (bounded by max_blocks)
  std::string command;  // run with /bin/sh -c in the event's cwd; "" = oracle off
  std::int64_t timeout_ms = 300'000;
  // Consecutive blocks (while stop_hook_active) after which the stop is let through; below
  // Claude Code's own cap of 8.
  int max_blocks = 3;
  int tail_lines = 60;    // the tail of the output shown to the agent
  int tail_bytes = 6000;  // ... at most this many bytes of it
  bool subagents = false;  // also check on SubagentStop
  bool operator==(const OracleConfig&) const = default;
};

struct SelfCheckConfig {
  bool enabled = false;
  bool fail_closed = true;  // its state unavailable: block the stop once (engine.h)
  std::string checklist =
      "Before you finish, verify your work: re-read the changed code, run the relevant tests or "
      "build, and check that every part of the request is done. Then stop again.";
  int max_blocks = 2;  // blocks per turn at most
  bool subagents = false;
  bool operator==(const SelfCheckConfig&) const = default;
};

struct HooksConfig {
  // hooks.journal_all: journal every decided event, also the plain Continue of a tool call that
  // needed no state (by default those are not journaled, and such a hook opens no store).
  bool journal_all = false;
  bool permission_fail_closed = true;  // hooks.permission_gate.fail_closed
  bool lease_fail_closed = true;       // hooks.lease_gate.fail_closed
  // hooks.lease_gate.auto_lease: a write nobody else holds takes (or renews) a short exclusive
  // lease for the writer itself, for auto_lease_ttl_ms, so that a second agent's write to the
  // same file is denied meanwhile.
  bool lease_auto = false;
  std::int64_t lease_auto_ttl_ms = 120'000;
  // hooks.lease_gate.stale_read (opt-in, hooks/stale_read.h): deny an edit of a file another
  // agent changed after this agent last read or wrote it.
  bool lease_stale_read = false;
  BudgetConfig budget;
  GuardrailConfig guardrail;
  OracleConfig oracle;
  SelfCheckConfig self_check;
  bool operator==(const HooksConfig&) const = default;
};

HooksConfig parse_hooks_config(const boost::json::value& section);

}  // namespace keel::hooks

// budget.h — token and cost ceilings per session and per turn, from the agent's transcript.
//
// Contract:
// - Spend is summed over the session's transcripts (JSONL): the main one
//   (HookEvent::transcript_path); every regular `*.jsonl` in `<main path without .jsonl>/subagents/`,
//   where Claude writes each subagent's own transcript (no such directory: no subagents); and
//   HookEvent::agent_transcript_path (SubagentStop) when given. Paths are compared after lexical
//   normalisation, so a file named by two sources is one file. A line counts when its
//   `message.usage` holds input_tokens / output_tokens / cache_creation_input_tokens /
//   cache_read_input_tokens, priced per million tokens by `message.model` (BudgetConfig
//   model_prices globs, else prices). A message.id repeated on consecutive lines of one file is
//   counted once: each file remembers its own last ids (16 for the main transcript, where older
//   agents interleaved subagent lines; 1 for any other file, which holds one agent's lines only).
// - Per file, incremental: state.budget.files maps transcript_key(path) to that file's record
//   {"o": byte offset of the first line not yet read, "i": fingerprints of the remembered ids,
//   "t"/"c": tokens/cost counted from the file (cost in whole nano-dollars), "tt"/"tc": the part
//   of t/c counted in the current turn}; zero or empty members are left out. Each call reads only the bytes appended to each file since its own
//   offset (an unchanged file costs one stat). A trailing line without its '\n' (the agent is still
//   writing it) is left for the next call. A file that shrank (rewritten) has its record reset and
//   is read again from its start; no other file's count moves.
// - Invariant: the session totals are the sums of t/c over the records and the turn totals the
//   sums of tt/tc (budget_totals); no other running sum is kept, so re-counting one file can
//   neither double count nor lose another's spend.
// - Bounded: at most kMaxTranscripts records of at most about 110 bytes, under 30 KiB in all (keys
//   are 16-hex hashes because paths are long and the whole hook state must fit the store's 64 KiB
//   value). A record is never
//   dropped (a dropped file still on disk would be found and counted again); a file first seen
//   when the state is full is not counted, and keel says so once per session (systemMessage).
// - State of the single-transcript format (path / offset / ids / session / turn directly in the
//   budget object) becomes, on first sight, the record of that path carrying the old totals: the
//   bytes already counted are not counted again, and a later shrink of that file resets them as
//   the old format did.
// - A turn starts at PolicyInput::new_turn; bytes read on that event still count to the turn
//   that ended, then every record's turn part restarts at zero.
// - Decision: past a ceiling, continue_=false with a stopReason naming it (and the tool call or
//   prompt is denied); at warn_ratio of a ceiling, one systemMessage per ceiling (per turn for
//   the turn ceilings). Continue otherwise.
// - Throws std::runtime_error when a transcript exists but cannot be read, or the subagents
//   directory exists but cannot be listed. A transcript not written yet counts as empty.
// - Stateless object; evaluate is const and thread-safe (the state is the caller's).
#pragma once

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "hooks/hook_event.h"
#include "hooks/hooks_config.h"
#include "hooks/policy.h"
#include "hooks/policy_state.h"

namespace keel::hooks {

struct Usage {
  std::int64_t input = 0;
  std::int64_t output = 0;
  std::int64_t cache_write = 0;
  std::int64_t cache_read = 0;
  std::int64_t tokens() const { return input + output + cache_write + cache_read; }
};

// Cost in US dollars of `u` at `p`.
double cost_of(const Usage& u, const TokenPrices& p);

inline constexpr std::size_t kMaxTranscripts = 256;

// The key of `path`'s record in state.budget.files: the fingerprint of its lexical normal form.
std::string transcript_key(std::string_view path);

struct Spend {
  std::int64_t tokens = 0;
  double cost = 0;
};
struct BudgetTotals {
  Spend session;
  Spend turn;
};
// What the budget state (state["budget"]) records as spent: the sums over its records.
BudgetTotals budget_totals(const boost::json::object& budget_state);

class Budget : public SessionPolicy {
 public:
  explicit Budget(BudgetConfig cfg) : cfg_(std::move(cfg)) {}

  // SessionPolicy (policy.h).
  std::string_view name() const noexcept override { return "budget"; }
  // True when a ceiling is set and the event names a session and a transcript.
  bool concerns(const HookEvent& ev) const override;
  HookDecision decide(const PolicyCall& call) const override;
  bool enabled() const noexcept override { return cfg_.enabled(); }
  HookDecision evaluate(const PolicyInput& in, boost::json::object& state, bool& changed) const;

  // The prices that apply to `model`.
  const TokenPrices& prices_for(std::string_view model) const;

 private:
  BudgetConfig cfg_;
};

}  // namespace keel::hooks

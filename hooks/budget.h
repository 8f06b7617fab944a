// budget.h — token and cost ceilings per session and per turn, from the agent's transcript.
//
// Contract:
// - Spend is summed from the transcript JSONL (HookEvent::transcript_path): every line whose
//   `message.usage` holds input_tokens / output_tokens / cache_creation_input_tokens /
//   cache_read_input_tokens, priced per million tokens by `message.model` (BudgetConfig
//   model_prices globs, else prices). A message.id repeated on consecutive lines is counted once.
// - Incremental: the state keeps the transcript's path and the byte offset of the first line not
//   yet read; each call reads only the bytes appended since. A trailing line without its '\n'
//   (the agent is still writing it) is left for the next call. A transcript that shrank is read
//   again from the start.
// - A turn starts at PolicyInput::new_turn; bytes read on that event still count to the turn
//   that ended, then the turn's totals restart at zero.
// - Decision: past a ceiling, continue_=false with a stopReason naming it (and the tool call or
//   prompt is denied); at warn_ratio of a ceiling, one systemMessage per ceiling (per turn for
//   the turn ceilings). Continue otherwise.
// - Throws std::runtime_error when the transcript exists but cannot be read. A transcript not
//   written yet counts as empty.
// - Stateless object; evaluate is const and thread-safe (the state is the caller's).
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "hooks/hook_event.h"
#include "hooks/hooks_config.h"
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

class Budget {
 public:
  explicit Budget(BudgetConfig cfg) : cfg_(std::move(cfg)) {}

  // True when a ceiling is set and the event names a session and a transcript.
  bool concerns(const HookEvent& ev) const;
  HookDecision evaluate(const PolicyInput& in, boost::json::object& state, bool& changed) const;

  // The prices that apply to `model`.
  const TokenPrices& prices_for(std::string_view model) const;

 private:
  BudgetConfig cfg_;
};

}  // namespace keel::hooks

// policy_state.h — what the stateful policies (budget, guardrail, oracle, self-check) share: the
// per-session state they read and edit, and where it lives in the store.
//
// Contract:
// - One JSON object per agent session holds every stateful policy's state, under its own member
//   ("budget", "guardrail", "oracle", "self_check"). It is kept in the store's session tier, own
//   namespace, of the reserved principal kStateAgent ("keel:hooks": the ':' can never appear in an
//   MCP agent's name, so no agent owns, lists or searches it), scoped by the event's session_id,
//   under the key kStateKey. SessionEnd deletes it; a session that never ends is swept by the
//   store's orphan-session TTL.
// - SessionStateStore::load/save are a compare-and-set pair: save returns false when another
//   hook process wrote in between (parallel PostToolUse hooks), and the caller re-runs its
//   policies on a fresh load. Thread-safe as the Store is; holds no state of its own.
// - Policies receive the loaded object and a `changed` flag they set when they edit it; they
//   never touch the store themselves.
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "hooks/hook_event.h"
#include "state/store.h"

namespace keel::hooks {

inline constexpr std::string_view kStateAgent = "keel:hooks";
inline constexpr std::string_view kStateKey = "hooks.state";

class SessionStateStore {
 public:
  SessionStateStore(state::Store& store, const std::string& project, const std::string& session_id);

  struct Snapshot {
    boost::json::object value;  // {} when nothing was stored yet
    std::int64_t version = 0;   // 0: not stored yet
  };
  Snapshot load();
  // Writes `value` if the stored version is still `expected_version`; false when it is not.
  bool save(const boost::json::object& value, std::int64_t expected_version);
  void erase();

 private:
  state::Store& store_;
  state::Principal who_;
};

// What every stateful policy is told about the event besides the event itself.
struct PolicyInput {
  PolicyInput(const HookEvent& event, bool starts_turn = false) : ev(event), new_turn(starts_turn) {}
  const HookEvent& ev;  // must outlive the PolicyInput
  bool new_turn;        // this event starts a turn (UserPromptSubmit, or a new turn_id)
};

// The start of a turn-scoped policy's evaluate(): on a new turn, drops state[member] (setting
// `changed`). True when the event is a UserPromptSubmit, which only resets: nothing to decide.
bool reset_on_new_turn(const PolicyInput& in, boost::json::object& state, std::string_view member,
                       bool& changed);

// state[policy][agent key] as an object, created when missing. The agent key is the event's
// agent_id ("main" outside subagents). At most kMaxAgentsPerPolicy agents are kept per policy.
inline constexpr std::size_t kMaxAgentsPerPolicy = 32;
boost::json::object& agent_section(boost::json::object& state, std::string_view policy,
                                   const HookEvent& ev);
std::string agent_key(const HookEvent& ev);

// 64-bit FNV-1a of `text` as 16 hex digits (stable across processes and builds).
std::string fingerprint(std::string_view text);

// Small accessors that tolerate a missing or mistyped member (state written by an older keel).
std::int64_t get_int(const boost::json::object& o, std::string_view key);
double get_double(const boost::json::object& o, std::string_view key);
bool get_bool(const boost::json::object& o, std::string_view key);
std::string get_string(const boost::json::object& o, std::string_view key);

}  // namespace keel::hooks

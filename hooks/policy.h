// policy.h — the one interface every hook policy implements, and what the engine hands it.
//
// Contract:
// - A Policy decides one analysed event (analysed_event.h) into a HookDecision; Continue with no
//   message and no rule means "nothing to say". It throws when it cannot decide; the engine
//   then applies the policy's fail mode (engine.h).
// - Gates (keeps_session_state() false: permission, lease) run once per event, in order, each
//   seeing what the gates before it decided (PolicyCall::so_far). Session policies (budget,
//   guardrail, oracle, self-check) run in the engine's compare-and-set rounds on the session's
//   shared state (PolicyCall::session, never null for them), and may run more than once per
//   event when a round loses a race.
// - concerns(ev) is a cheap filter on the event alone: a gate that does not concern an event is
//   not called; the session state is loaded only when some session policy concerns the event.
// - Policies are immutable after construction and thread-safe; the per-event scratch they share
//   (the store, opened on first use; the oracle's command result) is in the PolicyCall.
#pragma once

#include <boost/json/object.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "hooks/analysed_event.h"
#include "hooks/check_runner.h"
#include "hooks/hook_event.h"
#include "hooks/policy_state.h"
#include "state/store.h"

namespace keel::hooks {

// Opens (or returns the already open) store; throws when it cannot.
using StoreOpener = std::function<state::Store&()>;

// The store of one decision, opened on first use (at most once).
class LazyStore {
 public:
  explicit LazyStore(const StoreOpener& open) : open_(open) {}
  LazyStore(const LazyStore&) = delete;
  LazyStore& operator=(const LazyStore&) = delete;
  state::Store& get() {
    if (!store_) store_ = &open_();
    return *store_;
  }
  bool opened() const { return store_ != nullptr; }

 private:
  const StoreOpener& open_;
  state::Store* store_ = nullptr;
};

// The session's shared state during one compare-and-set round (policy_state.h).
struct SessionRound {
  boost::json::object& state;  // every session policy's member, edited in place
  bool& changed;               // set by a policy that edits `state`
  bool new_turn;               // this event starts a turn (UserPromptSubmit, or a new turn_id)
  // An external check's result from an earlier round of the same event: re-used, not re-run.
  std::optional<CheckResult>& check_memo;
  bool stop_blocked = false;  // a policy earlier in this round blocks the stop
};

struct PolicyCall {
  const AnalysedEvent& event;
  const state::Principal& who;
  LazyStore& store;
  const HookDecision& so_far;       // gates: what the gates before this one decided
  SessionRound* session = nullptr;  // session policies only
};

class Policy {
 public:
  virtual ~Policy() = default;
  // "permission", "lease", "budget", "guardrail", "oracle", "self_check": the journal's name
  // and the config key of its fail mode.
  virtual std::string_view name() const noexcept = 0;
  virtual bool keeps_session_state() const noexcept { return false; }
  virtual bool concerns(const HookEvent& ev) const = 0;
  virtual HookDecision decide(const PolicyCall& call) const = 0;

  // Session policies: whether it is switched on (SessionEnd then erases the session's state).
  virtual bool enabled() const noexcept { return false; }
  // Session policies: whether, on this event, it has nothing to say while the session has no
  // failure on record (failure_hint.h), so the store may stay closed.
  virtual bool idle_without_failures(const HookEvent&) const noexcept { return false; }
  // Session policies: false when an error is not worth retrying in a later round (the
  // oracle's command could not start); the error then stands for every round.
  virtual bool retries_after_error() const noexcept { return true; }
};

// A policy on the session's shared state: it runs in the engine's compare-and-set rounds and
// finds its state in PolicyCall::session.
class SessionPolicy : public Policy {
 public:
  bool keeps_session_state() const noexcept final { return true; }
};

// The session round of a call to a session policy; throws std::logic_error without one.
SessionRound& session_of(const PolicyCall& call);
// What a session policy's evaluate() takes: the event and whether it starts a turn.
PolicyInput policy_input(const PolicyCall& call);

}  // namespace keel::hooks

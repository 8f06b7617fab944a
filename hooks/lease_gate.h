// lease_gate.h — refuses a write to a path under another agent's lease, takes the writer's own
// leases (auto_lease), and tells a holder that someone asked it to release one.
//
// Contract:
// - The paths a call writes are AnalysedEvent::written_paths() (analysed_event.h): the file
//   tools' paths, a shell command's redirections, writers and apply_patch runs.
// - LeaseGate::evaluate (PreToolUse, PermissionRequest) denies when any such path overlaps a
//   live lease (file: or dir:, exclusive or shared) held by someone other than `who`, naming
//   every such hold (path, holder, lease, token, expiry; rule "lease:<first lease's name>");
//   Continue otherwise.
// - Without auto_lease it only reads: it never takes or changes a lease.
// - With auto_lease (PreToolUse only), a write that nobody else holds takes an exclusive
//   `file:` lease on each written path (the first kMaxAutoLeases distinct ones) for `who`, for
//   auto_lease_ttl_ms, in ONE acquire of all the names (AcquireRequest::names: all or nothing,
//   decided in the store's canonical order, so two writers of the same files never hold half
//   each); a lease `who` already held that would expire sooner is renewed. A refusal denies:
//   held (every holder in the way), capacity (the counted names short of units), queued (the
//   waiters served first). The decision stays Continue with rule "lease:auto" (so it is
//   journaled) and names the leases in its reason.
// - Release asks (a state_dir given): on an event of the main agent (not a subagent's: no
//   agent_id) whose answer shows context to the model (context_reaches_model, dialect.h) and
//   that nothing denies so far, one stat() looks for the agent's release-ask marker
//   (release_asks.h); only when it exists is the store opened and are the asks taken, shown as
//   additional_context (each ask once; rule "lease:release-asks" when nothing else set one).
//   Failing to read them never denies anything: the error goes to stderr (spdlog) and the asks
//   stay for a later event.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "hooks/analysed_event.h"
#include "hooks/hook_event.h"
#include "hooks/policy.h"
#include "state/store.h"

namespace keel::hooks {

struct LeaseGateOptions {
  bool auto_lease = false;
  std::int64_t auto_lease_ttl_ms = 120'000;
};

class LeaseGate : public Policy {
 public:
  static constexpr std::size_t kMaxAutoLeases = 16;
  // The most holds a deny names one by one (the rest are counted).
  static constexpr std::size_t kMaxHoldersNamed = 8;

  // `state_dir`: the state directory, where the release-ask markers are; empty: release asks
  // are not shown.
  explicit LeaseGate(LeaseGateOptions options = {}, std::filesystem::path state_dir = {})
      : options_(options), state_dir_(std::move(state_dir)) {}

  // Policy: PreToolUse and PermissionRequest events that write a path and that no gate before
  // it refused (the store is opened only then), and, with a state_dir, the events that can
  // carry release asks to the model (a stat() first). Lease errors read "could not check
  // leases: ...".
  std::string_view name() const noexcept override { return "lease"; }
  bool concerns(const HookEvent& ev) const override;
  HookDecision decide(const PolicyCall& call) const override;

  // `who` is the hook's principal; its agent name is compared with holders. Only the lease
  // check and auto_lease (no release asks).
  HookDecision evaluate(state::Store& store, const state::Principal& who,
                        const AnalysedEvent& ev) const;
  HookDecision evaluate(state::Store& store, const state::Principal& who,
                        const HookEvent& ev) const {
    return evaluate(store, who, AnalysedEvent(ev));
  }

 private:
  // Adds the release asks waiting for call.who to `d` (see the contract).
  void add_release_asks(const PolicyCall& call, HookDecision& d) const;

  LeaseGateOptions options_;
  std::filesystem::path state_dir_;
};

}  // namespace keel::hooks

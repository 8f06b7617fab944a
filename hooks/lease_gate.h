// lease_gate.h — refuses a write to a path under another agent's lease.
//
// Contract:
// - The paths a call writes are AnalysedEvent::written_paths() (analysed_event.h): the file
//   tools' paths, a shell command's redirections, writers and apply_patch runs.
// - LeaseGate::evaluate denies when any such path overlaps a live lease
//   (file: or dir:, exclusive or shared) held by someone other than `who`,
//   naming the holder, the lease and its expiry; Continue otherwise.
// - Without auto_lease it only reads: it never takes or changes a lease.
// - With auto_lease (PreToolUse only), a write that nobody else holds takes an exclusive
//   `file:` lease on each written path (at most kMaxAutoLeases) for `who`, for auto_lease_ttl_ms;
//   a lease `who` already holds that would expire sooner is renewed. Losing the race for a
//   path to another agent denies like a held lease. The decision stays Continue with rule
//   "lease:auto" (so it is journaled) and names the leases in its reason.
#pragma once

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

  explicit LeaseGate(LeaseGateOptions options = {}) : options_(options) {}

  // Policy: PreToolUse and PermissionRequest events that write a path and that no gate before
  // it refused; the store is opened only then. Errors read "could not check leases: ...".
  std::string_view name() const noexcept override { return "lease"; }
  bool concerns(const HookEvent& ev) const override;
  HookDecision decide(const PolicyCall& call) const override;

  // `who` is the hook's principal; its agent name is compared with holders.
  HookDecision evaluate(state::Store& store, const state::Principal& who,
                        const AnalysedEvent& ev) const;
  HookDecision evaluate(state::Store& store, const state::Principal& who,
                        const HookEvent& ev) const {
    return evaluate(store, who, AnalysedEvent(ev));
  }

 private:
  LeaseGateOptions options_;
};

}  // namespace keel::hooks

// lease_gate.h — refuses a write to a path under another agent's lease.
//
// Contract:
// - written_paths() lists, as absolute paths, what a tool call would write:
//   the file tools' paths (Write/Edit/Delete; Read and search tools write
//   nothing), and for shell commands the targets of writing redirections and
//   the operands of common writers (rm, mv, cp's destination, touch, tee,
//   truncate, sed -i, ln, mkdir, rmdir, chmod/chown), and every file named by
//   the patch of an `apply_patch`/`applypatch` the command runs (heredoc, argv
//   or stdin, through the wrappers the analyser follows; relative to the
//   directory a preceding `cd` moves it to: hooks/apply_patch.h). Relative
//   paths are taken from the event's cwd. Words the parser could not resolve
//   (and patches it cannot read) are skipped here; the permission gate already
//   asks about those.
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

#include "hooks/hook_event.h"
#include "state/store.h"

namespace keel::hooks {

std::vector<std::string> written_paths(const HookEvent& ev);

struct LeaseGateOptions {
  bool auto_lease = false;
  std::int64_t auto_lease_ttl_ms = 120'000;
};

class LeaseGate {
 public:
  static constexpr std::size_t kMaxAutoLeases = 16;

  explicit LeaseGate(LeaseGateOptions options = {}) : options_(options) {}

  // `who` is the hook's principal; its agent name is compared with holders.
  HookDecision evaluate(state::Store& store, const state::Principal& who,
                        const HookEvent& ev) const;

 private:
  LeaseGateOptions options_;
};

}  // namespace keel::hooks

// lease_gate.h — refuses a write to a path under another agent's lease.
//
// Contract:
// - written_paths() lists, as absolute paths, what a tool call would write:
//   the file tools' paths (Write/Edit/Delete; Read and search tools write
//   nothing), and for shell commands the targets of writing redirections and
//   the operands of common writers (rm, mv, cp's destination, touch, tee,
//   truncate, sed -i, ln, mkdir, rmdir, chmod/chown). Relative paths are taken
//   from the event's cwd. Words the parser could not resolve are skipped here;
//   the permission gate already asks about those.
// - LeaseGate::evaluate denies when any such path overlaps a live lease
//   (file: or dir:, exclusive or shared) held by someone other than `who`,
//   naming the holder, the lease and its expiry; Continue otherwise.
// - Reads only: it never takes or changes a lease.
#pragma once

#include <string>
#include <vector>

#include "hooks/hook_event.h"
#include "state/store.h"

namespace keel::hooks {

std::vector<std::string> written_paths(const HookEvent& ev);

class LeaseGate {
 public:
  // `who` is the hook's principal; its agent name is compared with holders.
  HookDecision evaluate(state::Store& store, const state::Principal& who,
                        const HookEvent& ev) const;
};

}  // namespace keel::hooks

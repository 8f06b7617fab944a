// keel/state/lease_name.h — backend-neutral rules for lease names: how a name
// is normalized, which names overlap, and which modes conflict.
//
// Name kinds:
//   "file:/abs/path"  an absolute path, normalized lexically: "//" and "/./"
//                     collapse, ".." removes the previous component (never
//                     above the root), a trailing "/" is dropped.
//   "dir:/abs/dir/"   the same normalization, always ending in "/".
//   anything else     a free name: non-empty, at most kMaxLeaseNameBytes
//                     bytes, no NUL, and not starting with "file:" or "dir:".
//
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "state/store.h"

namespace keel::state {

inline constexpr std::size_t kMaxLeaseNameBytes = 1024;

enum class LeaseNameKind { kFile, kDir, kFree };

// Returns the normalized form of `name`, or throws
// StoreError(kInvalidArgument) explaining what is wrong with it.
std::string normalize_lease_name(std::string_view name);

// The kind of a normalized name.
LeaseNameKind lease_name_kind(std::string_view normalized);

// True when holds on the normalized names `a` and `b` cover a common resource:
// equal names; or a dir: name and a file:/dir: name at or under it
// ("dir:/a/" covers "dir:/a/", "dir:/a/b/", "file:/a/x" and "file:/a").
// Symmetric.
bool lease_names_overlap(std::string_view a, std::string_view b);

// True when a hold in `held` mode stops a grant in `wanted` mode on an
// overlapping name: only shared with shared coexists.
bool lease_modes_conflict(LeaseMode held, LeaseMode wanted);

}  // namespace keel::state

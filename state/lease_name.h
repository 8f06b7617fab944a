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
#include <utility>

#include "state/lease_types.h"
#include "state/principal.h"

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

// A lease name known to be valid and normalized: made only by parse(), so a
// function that takes a LeaseName need not check it again. A value type;
// cheap to move, thread-safe as a std::string.
class LeaseName {
 public:
  // normalize_lease_name(raw), or throws StoreError(kInvalidArgument).
  static LeaseName parse(std::string_view raw);

  const std::string& str() const { return name_; }
  operator std::string_view() const { return name_; }
  LeaseNameKind kind() const { return lease_name_kind(name_); }
  // lease_names_overlap(*this, other).
  bool overlaps(std::string_view other) const { return lease_names_overlap(name_, other); }

  bool operator==(const LeaseName&) const = default;
  bool operator==(std::string_view other) const { return name_ == other; }

 private:
  explicit LeaseName(std::string normalized) : name_(std::move(normalized)) {}
  std::string name_;
};

}  // namespace keel::state

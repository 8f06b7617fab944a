// keel/state/lease_types.h — the value types of leases (Store::acquire_lease and friends).
// Part of the Store contract (state/store.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::state {

// An acquire's request_id (the idempotency key) is 1..kMaxLeaseRequestIdBytes bytes.
inline constexpr std::size_t kMaxLeaseRequestIdBytes = 256;

// ------------------------------------------------------------------ leases

// Lease names: "file:/abs/path", "dir:/abs/dir/" (trailing slash added when
// missing), or any other non-empty free name (≤ 1024 bytes, no NUL).
// A dir: hold overlaps every file:/dir: name at or under it; file: and free
// names overlap only themselves. Exclusive overlaps anything; shared overlaps
// only exclusive. A principal never conflicts with its own holds.
enum class LeaseMode { kExclusive, kShared };
std::string_view to_string(LeaseMode mode);  // "exclusive" | "shared"

struct LeaseInfo {
  std::string lease_id;  // opaque, unique
  std::string name;      // normalized
  std::string holder;    // Principal::agent of the holder
  LeaseMode mode = LeaseMode::kExclusive;
  std::int64_t token = 0;  // fencing token
  std::int64_t ttl_ms = 0;  // the TTL first granted; renew extends by it
  std::int64_t acquired_at_ms = 0;
  std::int64_t expires_at_ms = 0;

  bool operator==(const LeaseInfo&) const = default;
};

struct AcquireRequest {
  std::string name;
  std::int64_t ttl_ms = 0;  // > 0 and ≤ the configured maximum
  LeaseMode mode = LeaseMode::kExclusive;
  std::int64_t wait_ms = 0;  // 0: answer at once; else retry until granted or
                             // this long has passed
  std::optional<std::string> request_id;  // retry of a granted acquire with the
                                          // same id returns the same grant
  std::string reason;                     // journaled, shown to others
};

struct AcquireResult {
  bool granted = false;
  std::optional<LeaseInfo> lease;   // when granted
  std::vector<LeaseInfo> holders;   // when refused: the live holds in the way
  bool replayed = false;            // answered from the request_id record
  bool already_held = false;        // the caller already held this exact name
};

enum class ReleaseOutcome { kReleased, kAlreadyReleased, kExpired };
std::string_view to_string(ReleaseOutcome outcome);  // "released"...

}  // namespace keel::state

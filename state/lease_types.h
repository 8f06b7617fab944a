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

// The largest capacity of a counted name and the most units one acquire may
// ask for (so that any sum of units stays far from int64 overflow).
inline constexpr std::int64_t kMaxLeaseCapacity = 1'000'000'000;
// The most names one acquire may ask for.
inline constexpr std::size_t kMaxLeaseNamesPerAcquire = 64;
// Fair-queue priority bounds; each point counts as kLeasePriorityStepMs of
// waiting (a waiter's rank = enqueued_at_ms - priority * step): a waiter of
// low priority is overtaken only by those that arrive less than
// (their priority - its priority) * step after it, so none starves.
inline constexpr int kMinLeasePriority = -10;
inline constexpr int kMaxLeasePriority = 10;
inline constexpr std::int64_t kLeasePriorityStepMs = 10'000;
// A queued waiter that has not come back for this long (its process died or
// stopped waiting without saying so) leaves the queue.
inline constexpr std::int64_t kLeaseWaiterLivenessMs = 5'000;

struct LeaseInfo {
  std::string lease_id;  // opaque, unique
  std::string name;      // normalized
  std::string holder;    // Principal::agent of the holder
  LeaseMode mode = LeaseMode::kExclusive;
  std::int64_t token = 0;  // fencing token
  std::int64_t ttl_ms = 0;  // the TTL first granted; renew extends by it
  std::int64_t acquired_at_ms = 0;
  std::int64_t expires_at_ms = 0;
  // Counted names: the units this hold takes (1 on every other name).
  std::int64_t units = 1;
  // The acquire that granted it: every lease of one (multi-name) acquire
  // carries the same group_id, so they can be released together. Opaque;
  // empty on leases granted before groups existed.
  std::string group_id;

  bool operator==(const LeaseInfo&) const = default;
};

// A request for one name (`name`) or several at once (`names`, all or
// nothing). Exactly one of the two is set (kInvalidArgument otherwise).
struct AcquireRequest {
  std::string name;
  // Several names: every one granted in one transaction, or none. Decided in
  // the canonical order of the normalized names (sorted, duplicates
  // dropped), so two requests naming the same resources in opposite orders
  // never deadlock. 1..kMaxLeaseNamesPerAcquire entries.
  std::vector<std::string> names;
  std::int64_t ttl_ms = 0;  // > 0 and ≤ the configured maximum
  LeaseMode mode = LeaseMode::kExclusive;
  std::int64_t wait_ms = 0;  // 0: answer at once; else queue (fairly, see
                             // priority) until granted or this long has passed
  // Idempotency key: a retry with the same id AND the same arguments replays
  // the first result (see AcquireResult::replayed); the same id with other
  // arguments is kInvalidArgument.
  std::optional<std::string> request_id;
  std::string reason;  // journaled, shown to others
  // Counted names (a capacity declared in StoreOptions::lease_capacities or
  // by the first acquire's `capacity`): the units asked, 1..capacity. Must be
  // 1 on names that are not counted (kInvalidArgument).
  std::int64_t units = 1;
  // Declares `name` counted with this capacity (≥ 1) when it is not yet;
  // once declared it is fixed: a different value is kInvalidArgument. Only
  // with a single free name (not file:/dir:), else kInvalidArgument.
  std::optional<std::int64_t> capacity;
  // kMinLeasePriority..kMaxLeasePriority; higher is served earlier (ages).
  int priority = 0;
};

// Why an acquire was not granted.
enum class LeaseRefusal {
  kNone,      // granted
  kHeld,      // other holders' leases are in the way (see holders)
  kCapacity,  // a counted name has fewer free units than asked (see counted)
  kQueued,    // free, but waiters queued earlier want it first (see ahead)
  kReleased,  // a request_id replay whose grant has since been released,
              // expired or moved to another agent (see replay_status)
};
std::string_view to_string(LeaseRefusal refusal);  // "none" | "held" | ...

// A counted name's state, reported with a kCapacity refusal and by the board.
struct LeaseCapacity {
  std::string name;
  std::int64_t capacity = 0;
  std::int64_t used = 0;  // units held by live leases
  bool operator==(const LeaseCapacity&) const = default;
};

// One queued acquire (its every name), as lease_board and refusals show it.
struct LeaseWaiter {
  std::string waiter_id;
  std::string agent;
  std::vector<std::string> names;  // normalized, canonical order
  LeaseMode mode = LeaseMode::kExclusive;
  std::int64_t units = 1;
  int priority = 0;
  std::int64_t enqueued_at_ms = 0;
  std::int64_t rank_ms = 0;  // enqueued_at_ms - priority * kLeasePriorityStepMs
  bool operator==(const LeaseWaiter&) const = default;
};

struct AcquireResult {
  bool granted = false;
  std::optional<LeaseInfo> lease;   // when granted: leases[0]
  // When granted: one lease per distinct requested name, in canonical order.
  std::vector<LeaseInfo> leases;
  LeaseRefusal refusal = LeaseRefusal::kNone;
  std::vector<LeaseInfo> holders;   // when refused: the live holds in the way
  std::vector<LeaseCapacity> counted;  // kCapacity: the counted names short of units
  std::vector<LeaseWaiter> ahead;   // kQueued: the waiters served first
  // True when the refusal came after waiting the whole wait_ms (> 0): "waited
  // and timed out", as opposed to an immediate refusal.
  bool timed_out = false;
  std::int64_t waited_ms = 0;
  bool replayed = false;            // answered from the request_id record
  // With replayed: "granted" (every lease of the grant is still live: they
  // are returned as they stand now) or "released" / "expired" (refusal
  // kReleased, granted false; leases hold the grant as it was).
  std::string replay_status;
  bool already_held = false;        // the caller already held every name
  bool upgraded = false;            // a shared hold became exclusive (UPGRADE)
};

// A request that the holders of `name` release it (Store::ask_release).
struct ReleaseAsk {
  std::string ask_id;
  std::string name;    // normalized
  std::string asker;   // agent
  std::string holder;  // agent asked
  std::string reason;
  std::int64_t at_ms = 0;
  bool delivered = false;  // shown to the holder (take_release_asks)
  bool operator==(const ReleaseAsk&) const = default;
};

// What lease_board shows: live leases, queues, open asks, counted names.
struct LeaseBoard {
  std::vector<LeaseInfo> leases;       // by name, token (as list_leases)
  std::vector<LeaseWaiter> waiters;    // by rank (the order they are served)
  std::vector<ReleaseAsk> asks;        // open asks on live holds, oldest first
  std::vector<LeaseCapacity> capacities;  // every counted name, by name
};

enum class ReleaseOutcome { kReleased, kAlreadyReleased, kExpired };
std::string_view to_string(ReleaseOutcome outcome);  // "released"...

}  // namespace keel::state

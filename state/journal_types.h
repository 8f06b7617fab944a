// keel/state/journal_types.h — the journal's records, filters and reports, and the ops the
// store journals for leases and memory. Part of the Store contract (state/store.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/lease_types.h"

namespace keel::state {

// ----------------------------------------------------------------- journal

// Journal ops written by the store itself.
namespace ops {
inline constexpr std::string_view kAcquire = "ACQUIRE";
inline constexpr std::string_view kRenew = "RENEW";
inline constexpr std::string_view kRelease = "RELEASE";
inline constexpr std::string_view kExpire = "EXPIRE";
inline constexpr std::string_view kRefuse = "REFUSE";
inline constexpr std::string_view kMemoryPut = "MEMORY_PUT";
inline constexpr std::string_view kMemoryDelete = "MEMORY_DELETE";
// {tier, namespace, key, version, bytes, value_sha256}: an entry removed by
// memory_take (the taker is the record's principal).
inline constexpr std::string_view kMemoryTake = "MEMORY_TAKE";
// {succeeded, compares, ops: [{op: put|delete, tier, namespace, key, version,
// bytes, value_sha256, deleted}]}: one memory_txn that applied something.
inline constexpr std::string_view kMemoryTxn = "MEMORY_TXN";
inline constexpr std::string_view kSessionEnd = "SESSION_END";
inline constexpr std::string_view kCheckpoint = "CHECKPOINT";
// A lease changed mode in place: its payload is the lease as it stands after
// (new token and mode; same lease_id), as ADOPT's.
inline constexpr std::string_view kUpgrade = "UPGRADE";
inline constexpr std::string_view kDowngrade = "DOWNGRADE";
// {name, reason, holders: [agent...]}: no lease state changes.
inline constexpr std::string_view kAskRelease = "ASK_RELEASE";
}  // namespace ops

struct JournalRecord {
  std::int64_t seq = 0;  // 1, 2, 3... without gaps (until compaction)
  std::int64_t ts_ms = 0;
  std::string project;
  std::string principal;
  std::string op;
  std::string subject;
  std::string payload;    // JSON text, exactly as hashed
  std::string prev_hash;  // hex SHA-256; 64 zeros for the first record
  std::string hash;       // hex SHA-256 over prev_hash and the fields above
                          // (and node, when not empty: state/journal.h)
  std::string node;       // the keel node that wrote it (StoreOptions::node);
                          // "" for records written before nodes were recorded

  bool operator==(const JournalRecord&) const = default;
};

struct JournalFilter {
  std::optional<std::string> project;    // default: every project
  std::optional<std::string> op;
  std::optional<std::string> principal;
  std::optional<std::string> subject;    // exact, or a prefix when it ends in '*'
  std::optional<std::int64_t> since_ms;  // ts ≥
  std::optional<std::int64_t> until_ms;  // ts <
  std::optional<std::int64_t> after_seq; // seq >
  int limit = 100;                       // ≤ 10000
  bool newest_first = true;              // tail order; false: ascending
};

struct VerifyReport {
  bool ok = true;
  std::int64_t records = 0;
  struct Bad {
    std::int64_t seq = 0;
    std::string kind;    // "edited" | "missing" | "reordered" | "truncated" |
                         // "bad_checkpoint"
    std::string detail;  // human-readable explanation
  };
  std::optional<Bad> first_bad;
};

struct ReplayReport {
  std::int64_t at_ms = 0;              // the instant both sets were taken at
  std::vector<LeaseInfo> replayed;     // live leases folded from the journal
  std::vector<LeaseInfo> table;        // live leases in the lease table
  bool equal = false;
  std::vector<std::string> differences;  // empty when equal
};

// What journal_compact folds. The default folds every record.
struct CompactOptions {
  // Fold only the records with seq <= through_seq (0: every record, through
  // the head). The records after it stay, and the chain still verifies across
  // the checkpoint. A value past the head is the head; one before the first
  // record (or the first record already a CHECKPOINT covering it) folds
  // nothing and returns folded_records == 0 with the chain unchanged.
  std::int64_t through_seq = 0;
};

// Which records journal_export writes: seq in [from_seq, through_seq]
// (0: unbounded on that side).
struct ExportRange {
  std::int64_t from_seq = 0;
  std::int64_t through_seq = 0;
};

struct CompactReport {
  std::int64_t folded_records = 0;   // records replaced by the checkpoint
  std::int64_t checkpoint_seq = 0;
};

}  // namespace keel::state

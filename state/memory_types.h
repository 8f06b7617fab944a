// keel/state/memory_types.h — the value types of memory (Store::memory_put and friends).
// Part of the Store contract (state/store.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

namespace keel::state {

// ------------------------------------------------------------------ memory

enum class Tier { kSession, kCrossRun };
enum class Namespace { kOwn, kShared };
std::string_view to_string(Tier tier);     // "session" | "cross_run"
std::string_view to_string(Namespace ns);  // "own" | "shared"

struct Fence {
  std::string name;
  std::int64_t token = 0;
};

struct PutRequest {
  Tier tier = Tier::kCrossRun;
  Namespace ns = Namespace::kOwn;
  std::string key;
  boost::json::value value;
  std::optional<std::int64_t> expected_version;  // 0: key must not exist
  std::optional<std::int64_t> ttl_ms;
  std::optional<Fence> fence;
};

struct PutResult {
  std::int64_t version = 0;
  std::optional<std::int64_t> expires_at_ms;
};

struct GetResult {
  bool found = false;
  boost::json::value value;
  std::int64_t version = 0;
  std::int64_t updated_at_ms = 0;
  std::optional<std::int64_t> expires_at_ms;
};

struct DeleteRequest {
  Tier tier = Tier::kCrossRun;
  Namespace ns = Namespace::kOwn;
  std::string key;
  std::optional<std::int64_t> expected_version;
  std::optional<Fence> fence;
};

struct ListRequest {
  Tier tier = Tier::kCrossRun;
  Namespace ns = Namespace::kOwn;
  std::string prefix;
  std::string cursor;  // from a previous ListResult; empty: from the start
  int limit = 0;       // 0: the configured page size; capped at the maximum
};

struct ListEntry {
  std::string key;
  std::int64_t version = 0;
  std::int64_t updated_at_ms = 0;
  std::optional<std::int64_t> expires_at_ms;
  std::int64_t bytes = 0;
};

struct ListResult {
  std::vector<ListEntry> entries;  // ascending by key
  std::string next_cursor;         // empty: no more
};

struct SearchRequest {
  std::string query;  // words; matched as FTS5 terms (no query syntax needed)
  std::optional<Tier> tier;          // default: both tiers
  std::optional<Namespace> ns;       // default: own and shared
  int limit = 0;                     // 0: configured page size
};

struct SearchHit {
  Tier tier = Tier::kCrossRun;
  Namespace ns = Namespace::kOwn;
  std::string key;
  boost::json::value value;
  std::int64_t version = 0;
  double score = 0;  // higher is better
};


// ------------------------------------------------------ take, wait, txn
// Issue 20: memory as a tuple space. `match` is a template over a JSON value
// (state/memory_match.h states the rules: equality field by field, and
// presence / absence with {"$exists": bool}).

// Removes and returns one entry at once: the entry at `key`, or (with a
// prefix) the oldest one (by creation; ties by row) whose key starts with
// `prefix`; only entries whose value matches `match` when it is given.
// Either `key` is non-empty or `by_prefix` is set (its prefix may be empty:
// every key of the scope), never both: kInvalidArgument otherwise.
struct TakeRequest {
  Tier tier = Tier::kCrossRun;
  Namespace ns = Namespace::kOwn;
  std::string key;
  bool by_prefix = false;
  std::string prefix;
  std::optional<boost::json::value> match;
  std::int64_t wait_ms = 0;  // 0: answer now; at most StoreOptions::memory_max_wait_ms
};

struct TakeResult {
  bool taken = false;  // false: nothing (matching) there when wait_ms ran out
  std::string key;
  boost::json::value value;
  std::int64_t version = 0;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int64_t waited_ms = 0;
};

// Waits until the slot holds what the caller waits for, or wait_ms passes:
//  * key set: the key's version differs from after_version (an absent key
//    has version 0, so after_version = 0 waits for the key to exist), and,
//    with `match`, its value matches;
//  * by_prefix: some live entry under the prefix has version >
//    after_version and, with `match`, a matching value.
// Reads only; nothing is journaled.
struct WaitRequest {
  Tier tier = Tier::kCrossRun;
  Namespace ns = Namespace::kOwn;
  std::string key;
  bool by_prefix = false;
  std::string prefix;
  std::int64_t after_version = 0;
  std::optional<boost::json::value> match;
  std::int64_t wait_ms = 0;  // 0..StoreOptions::memory_max_wait_ms
};

struct WaitResult {
  bool satisfied = false;  // false: wait_ms ran out first
  std::int64_t waited_ms = 0;
};

// One condition of a memory_txn.
struct TxnCompare {
  enum class Kind {
    kVersion,  // the key's version == version (0: the key is absent)
    kValue,    // the key exists and its value equals `value`, numbers
               // (anywhere in it) within ± tolerance
    kLease,    // a live lease on lease_name carries exactly `token`
  };
  Kind kind = Kind::kVersion;
  Tier tier = Tier::kCrossRun;
  Namespace ns = Namespace::kOwn;
  std::string key;
  std::int64_t version = 0;
  boost::json::value value;
  double tolerance = 0;  // ≥ 0
  std::string lease_name;
  std::int64_t token = 0;
};

// One write of a memory_txn.
struct TxnOp {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  Tier tier = Tier::kCrossRun;
  Namespace ns = Namespace::kOwn;
  std::string key;
  boost::json::value value;            // kPut
  std::optional<std::int64_t> ttl_ms;  // kPut
};

inline constexpr std::size_t kTxnMaxCompares = 64;
inline constexpr std::size_t kTxnMaxOps = 64;

struct TxnRequest {
  std::vector<TxnCompare> compare;  // all must hold (empty: true)
  std::vector<TxnOp> then_ops;      // applied, in order, when they all hold
  std::vector<TxnOp> else_ops;      // applied, in order, otherwise
};

struct TxnOpResult {
  TxnOp::Kind kind = TxnOp::Kind::kPut;
  std::string key;
  std::int64_t version = 0;  // kPut: the new version; kDelete: 0
  bool deleted = false;      // kDelete: whether there was something to delete
  std::optional<std::int64_t> expires_at_ms;
};

struct TxnResult {
  bool succeeded = false;               // every compare held: `then` ran
  std::vector<bool> compare_held;       // one per compare, in order
  std::vector<TxnOpResult> results;     // of the branch that ran
  std::int64_t journal_seq = 0;         // its MEMORY_TXN record; 0: nothing applied
};

}  // namespace keel::state

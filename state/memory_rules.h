// keel/state/memory_rules.h — the backend-neutral rules of memory, shared by
// the SQLite (state/sqlite_store_memory.cpp) and PostgreSQL
// (state/postgres/pg_store_memory*.cpp) stores: argument validation, which
// slot a principal writes and which slots it may search, page limits, list
// cursors, journal subjects and payloads, refusals, and the search text of a
// row. SQL stays in the backends.
//
// Errors: the functions that validate throw StoreError with the codes and
// texts the Store contract (state/store.h) documents; both backends must
// give the same ones, which is why they live here.
// Thread safety: pure functions of their arguments (wait_loop: as safe as
// the callbacks it is given).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "state/clock.h"
#include "state/store.h"

namespace keel::state::memory_rules {

// A row's address besides (project, key).
struct Slot {
  std::string tier;        // "session" | "cross_run"
  std::string ns;          // "agent:<agent>" | "shared"
  std::string scope;       // session id for own session rows, else ""
  std::string session_id;  // written to session-tier rows ("" for cross_run)
};

// The slot `who` addresses with (tier, ns). Throws kPermissionDenied when a
// capability is missing, kInvalidArgument when the principal has no agent or
// (session tier) no session.
Slot slot_for(const Principal& who, Tier tier, Namespace ns);

// The slots memory_search reads for `who` and `r` (empty: none). Throws
// kPermissionDenied when an explicitly requested tier / the shared namespace
// is not allowed or the principal may read no memory at all,
// kInvalidArgument when it has no agent. Slot::session_id is left empty.
std::vector<Slot> search_slots(const Principal& who, const SearchRequest& r);

// Key checks common to both backends: not empty (kInvalidArgument), no NUL
// (kInvalidArgument), at most `max_key_bytes` (kTooLarge).
void check_key(std::string_view key, std::int64_t max_key_bytes);

// expected_version ≥ 0, else kInvalidArgument.
void check_expected_version(const std::optional<std::int64_t>& expected_version);
// ttl_ms > 0 when set, else kInvalidArgument.
void check_ttl(const std::optional<std::int64_t>& ttl_ms);
// A serialized value of at most `max_value_bytes`, else kTooLarge.
void check_value_size(std::string_view value_text, std::int64_t max_value_bytes);

// A query with some non-space character, else kInvalidArgument.
void check_search_query(std::string_view query);

// The page size for a requested limit: 0 → page_size, else at most
// max_page_size. A negative limit is kInvalidArgument.
int page_limit(int requested, int page_size, int max_page_size);

// List cursors: "k1." and the lower-case hex of the last key listed.
std::string encode_list_cursor(std::string_view last_key);
// The key a cursor continues after; nullopt for "" (from the start). Throws
// kInvalidArgument "invalid list cursor" when it is not one encode made.
std::optional<std::string> decode_list_cursor(std::string_view cursor);

// The journal subject of a memory key: "memory:<tier>/<ns>/<key>".
std::string subject_of(std::string_view tier, std::string_view ns, std::string_view key);

// Journal payloads (their fields are part of the journal's format).
boost::json::object put_payload(const Slot& slot, std::string_view key, std::int64_t version,
                                std::int64_t bytes, const std::string& sha256,
                                const std::optional<std::int64_t>& expires_at,
                                const std::optional<Fence>& fence);
boost::json::object delete_payload(const Slot& slot, std::string_view key, std::int64_t version,
                                   const std::optional<Fence>& fence);
boost::json::object stale_fence_payload(std::string_view action, const std::string& fence_name,
                                        std::int64_t fence_token);

// Outcome of a fenced / compare-and-set write decided inside its transaction.
enum class WriteStatus { kOk, kStaleFence, kMismatch };

// Throws the refusal a non-kOk WriteStatus stands for (kStaleFence or
// kVersionMismatch). `what` is "write" or "delete".
void throw_if_refused(WriteStatus status, const std::string& fence_name, std::int64_t fence_token,
                      std::int64_t expected_version, std::int64_t current_version,
                      std::string_view what);

// ------------------------------------------ take, wait, txn (issue 20)
// The backend-neutral half of memory_take / memory_wait / memory_txn
// (state/memory_types.h states their semantics): request checks, the
// conditions a waiter or a compare tests on a row it read, and the journal
// payloads of MEMORY_TAKE and MEMORY_TXN. Finding, deleting and waking are
// the backends'.

// A take: either a key (check_key) or by_prefix (a prefix without NUL, at
// most max_key_bytes; "" is every key), never both and never neither; a
// match that check_match_template accepts; 0 ≤ wait_ms ≤ max_wait_ms.
// Throws kInvalidArgument (kTooLarge for an overlong key, as check_key).
void check_take_request(const TakeRequest& r, std::int64_t max_key_bytes,
                        std::int64_t max_wait_ms);
// As check_take_request, and after_version ≥ 0.
void check_wait_request(const WaitRequest& r, std::int64_t max_key_bytes,
                        std::int64_t max_wait_ms);

// Whether a key wait (r.key set) is satisfied by the key's live row:
// `version` 0 and `value` null when it is absent (or expired).
bool key_wait_satisfied(const WaitRequest& r, std::int64_t version,
                        const boost::json::value* value);
// Whether one live row under a prefix wait's prefix satisfies it
// (version > after_version and, with match, a matching value).
bool prefix_entry_satisfies(const WaitRequest& r, std::int64_t version,
                            const boost::json::value& value);
// Whether a take's row (live, at the key or under the prefix) may be taken:
// no match, or its value matches.
bool take_matches(const TakeRequest& r, const boost::json::value& value);

// The kCancelled error of a take or wait the caller abandoned. `call` is
// "memory_take" or "memory_wait".
StoreError wait_cancelled(std::string_view call, std::string_view key, bool by_prefix,
                          std::string_view prefix);

// The waiting loop of memory_take and memory_wait, the same on both
// backends; `r` is a TakeRequest or WaitRequest (`call` names it for the
// cancellation error). Each round reads epoch() — the backend's count of
// memory changes, read BEFORE looking so that a change made while looking
// still ends the next sleep at once — then calls attempt(first_round),
// which returns true when it has the answer (the caller keeps it). Unless
// wait_ms ran out (or is 0), it then checks `cancelled` (throwing
// wait_cancelled) and calls sleep(epoch_read, deadline), which returns when
// the count moved, the backend's poll interval passed, or the deadline came.
// waited_ms: 0 when the first round answered or wait_ms is 0, else the real
// time spent.
struct WaitOutcome {
  bool answered = false;
  std::int64_t waited_ms = 0;
};
template <class Request, class Epoch, class Attempt, class Sleep>
WaitOutcome wait_loop(std::string_view call, const Request& r, const CancelCheck& cancelled,
                      Epoch&& epoch, Attempt&& attempt, Sleep&& sleep) {
  using SteadyClock = std::chrono::steady_clock;
  const auto started = SteadyClock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started)
        .count();
  };
  const WaitDeadline deadline(r.wait_ms);
  for (bool first = true;; first = false) {
    const auto seen = epoch();
    if (attempt(first)) return WaitOutcome{true, first ? 0 : elapsed_ms()};
    if (r.wait_ms == 0 || deadline.passed()) {
      return WaitOutcome{false, r.wait_ms == 0 ? 0 : elapsed_ms()};
    }
    if (cancelled && cancelled()) throw wait_cancelled(call, r.key, r.by_prefix, r.prefix);
    sleep(seen, deadline);
  }
}

// MEMORY_TAKE's payload: {tier, namespace, key, version, bytes, value_sha256}
// (bytes and sha256 of the taken value's serialized text).
boost::json::object take_payload(const Slot& slot, std::string_view key, std::int64_t version,
                                 std::int64_t bytes, const std::string& value_sha256);

// A txn's shape: at most kTxnMaxCompares compares and kTxnMaxOps ops in
// each branch; every key as check_key; a kValue tolerance finite and ≥ 0; a
// kLease name that normalize_lease_name accepts; each put's ttl (check_ttl)
// and serialized value size (check_value_size). Capabilities are checked by
// the backend (slot_for for every compared and written key).
// Throws kInvalidArgument (kTooLarge for sizes).
void check_txn_request(const TxnRequest& r, std::int64_t max_key_bytes,
                       std::int64_t max_value_bytes);

// Whether a kVersion or kValue compare holds for the key's live row
// (`version` 0 and `value` null when absent). Not for kLease.
bool row_compare_holds(const TxnCompare& c, std::int64_t version,
                       const boost::json::value* value);

// MEMORY_TXN's payload, built from its parts:
//   compares: txn_compare_payload (kVersion / kValue; `slot` is the compared
//     key's) or txn_lease_compare_payload (kLease; the normalized name), one
//     per compare in order;
//   ops: txn_put_payload / txn_delete_payload, one per op of the branch that
//     ran, in order (a delete of nothing: version 0, deleted false);
//   txn_payload: {succeeded, compares: [...], ops: [...]}.
boost::json::object txn_compare_payload(const TxnCompare& c, const Slot& slot, bool held);
boost::json::object txn_lease_compare_payload(std::string_view normalized_lease_name,
                                              std::int64_t token, bool held);
boost::json::object txn_put_payload(const Slot& slot, std::string_view key, std::int64_t version,
                                    std::int64_t bytes, const std::string& value_sha256,
                                    const std::optional<std::int64_t>& expires_at);
boost::json::object txn_delete_payload(const Slot& slot, std::string_view key,
                                       std::int64_t deleted_version, bool deleted);
boost::json::object txn_payload(bool succeeded, boost::json::array compares,
                                boost::json::array ops);

// A memory_txn's outcome, recorded by a backend as it decides it inside its
// transaction: every compare in order, then each op of the branch that runs
// (branch(r): then_ops when every compare held, else else_ops). result() is
// the TxnResult (the caller sets journal_seq) and payload() MEMORY_TXN's.
// Writes nothing itself. Not thread-safe (one per call).
class TxnOutcome {
 public:
  // A kVersion / kValue compare against the key's live row (`version` 0 and
  // `value` null when it is absent); returns whether it held.
  bool row_compare(const TxnCompare& c, const Slot& slot, std::int64_t version,
                   const boost::json::value* value);
  // A kLease compare the backend decided (a live lease of the project on
  // `normalized_name` carries c.token).
  void lease_compare(const TxnCompare& c, std::string_view normalized_name, bool held);
  // After the compares: the ops to apply.
  const std::vector<TxnOp>& branch(const TxnRequest& r) const {
    return result_.succeeded ? r.then_ops : r.else_ops;
  }
  // A put over the row at `previous_version` (0: none) at `now`: the new
  // version and expiry (from op.ttl_ms) for the backend to write.
  const TxnOpResult& put(const TxnOp& op, const Slot& slot, std::int64_t previous_version,
                         std::int64_t now, std::int64_t bytes, const std::string& value_sha256);
  // A delete of the row at `deleted_version` (0: there was none).
  const TxnOpResult& remove(const TxnOp& op, const Slot& slot, std::int64_t deleted_version);

  TxnResult& result() { return result_; }
  boost::json::object payload() const { return txn_payload(result_.succeeded, compares_, ops_); }

 private:
  void record_compare(bool held, boost::json::object payload);
  TxnResult result_{true, {}, {}, 0};
  boost::json::array compares_;
  boost::json::array ops_;
};

// The words of a search query: split on whitespace, keeping only words with
// an ASCII letter/digit or a non-ASCII byte (the others hold no token).
std::vector<std::string_view> query_words(std::string_view query);

// The text indexed for search: the key and, each after a space, every string
// leaf of the value (depth first, in order).
std::string search_text(std::string_view key, const boost::json::value& value);
// As search_text, from the value's serialized form; a value that does not
// parse contributes nothing.
std::string search_text(std::string_view key, std::string_view value_text);

}  // namespace keel::state::memory_rules

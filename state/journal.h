// keel/state/journal.h — the hash chain and the lease fold, independent of
// how records are stored.
//
// Record hash (hex SHA-256):
//   H = sha256( prev_hash || "\n" || F(seq) F(ts) F(project) F(principal)
//               F(op) F(subject) F(payload) [F(node)] )
// where F(node) is present only when the record names a node, and F(x) = <decimal byte length of x> ":" x "," (a netstring; integers as
// decimal text), so no two different records share an encoding. The first
// record of a chain has prev_hash = 64 zeros, unless the chain starts with a
// CHECKPOINT, whose prev_hash is the hash of the last record it folded (its
// payload's anchor_hash). A CHECKPOINT has one of two forms:
//
//  - full (journal_compact of every record): seq = folded_through_seq + 1,
//    appended after the old head; the next record chains from its hash, as
//    after any record.
//  - partial (journal_compact with through_seq before the head, what
//    journal.retention writes): seq = folded_through_seq, i.e. it takes the
//    place of the last record it folded, and the records after it are kept
//    byte for byte. The first kept record's prev_hash is the hash of the
//    record the checkpoint replaced, which is the checkpoint's anchor_hash:
//    so after a partial CHECKPOINT the chain continues from its anchor_hash
//    (== its prev_hash), not from its own hash. Verification thus proves that
//    the kept records are unchanged and follow the folded ones (a kept
//    record's prev_hash must equal the anchor, the next one's the kept
//    record's hash, up to the head in meta).
//    What the chain does not bind is the partial checkpoint itself (nothing
//    chains from its hash): replay checks its lease set against the lease
//    table, and the export of the folded records (journal.retention's
//    export_dir) lets anyone recompute it: the exported records chain up to
//    anchor_hash and fold to the same leases. Known gap: someone who can
//    write the store could also replace a prefix of a never-compacted chain
//    with a forged partial CHECKPOINT, and verify alone would not tell;
//    binding the checkpoint's seq and hash beside the head (meta /
//    chain_heads) closes it and is not done yet.
//
// LeaseFold treats both forms alike: the checkpoint's leases, then the records
// after it. Replay over a compacted chain therefore equals replay over the
// original one.
//
// All functions are pure; the classes are not synchronized (one per thread).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "state/journal_types.h"
#include "state/lease_types.h"
#include "state/principal.h"

namespace keel::state {

inline const std::string kZeroHash(64, '0');

std::string journal_hash(std::string_view prev_hash, std::int64_t seq, std::int64_t ts,
                         std::string_view project, std::string_view principal,
                         std::string_view op, std::string_view subject,
                         std::string_view payload, std::string_view node = {});

// The hash `r` should carry given its own prev_hash and fields.
inline std::string journal_hash(const JournalRecord& r) {
  return journal_hash(r.prev_hash, r.seq, r.ts_ms, r.project, r.principal, r.op,
                      r.subject, r.payload, r.node);
}

// Lease <-> JSON, the shape used in ACQUIRE / ADOPT / UPGRADE / DOWNGRADE
// payloads, CHECKPOINT lease sets and lease_requests results. Always writes
// "units" and "group_id"; reads them as 1 and "" when absent (records and
// checkpoints written before they existed).
boost::json::object lease_to_json(const LeaseInfo& lease);
// Throws std::exception (boost::system::system_error, std::invalid_argument)
// when `v` is not such an object.
LeaseInfo lease_from_json(const boost::json::value& v);
LeaseMode lease_mode_from_string(std::string_view s);  // throws invalid_argument

// The contents of a CHECKPOINT payload.
struct Checkpoint {
  std::int64_t folded_through_seq = 0;
  std::int64_t folded_records = 0;
  std::string anchor_hash;
  std::vector<LeaseInfo> leases;
  std::int64_t next_token = 0;
};
boost::json::object checkpoint_to_json(const Checkpoint& c);
// nullopt when the payload is malformed.
std::optional<Checkpoint> checkpoint_from_payload(std::string_view payload);

// Folds records (ascending) into the set of leases they leave standing:
// CHECKPOINT resets the set to its lease list, ACQUIRE adds, RENEW and
// HEARTBEAT update expires_at, ADOPT replaces a lease with its new holder,
// token and expiry, UPGRADE and DOWNGRADE replace it with its new mode and
// token (an unknown lease_id is malformed), RELEASE, EXPIRE, SCAVENGE and
// SUSPEND remove; ASK_RELEASE changes nothing (its shape is checked). Other
// ops are ignored. Expired leases
// stay in the set until a record removes them; callers filter by time.
class LeaseFold {
 public:
  // Returns a description of the problem when a lease record's payload is
  // malformed (the record is then skipped).
  std::optional<std::string> apply(const JournalRecord& r);
  const std::map<std::string, LeaseInfo>& leases() const { return leases_; }  // by lease_id

 private:
  std::map<std::string, LeaseInfo> leases_;
};

// Leases ordered by (name, token): the order of reports and checkpoints.
std::vector<LeaseInfo> sorted_leases(std::vector<LeaseInfo> v);

// journal_replay's report, the same on every backend: `replayed` the fold's
// leases live at `at_ms`, `table` the lease table's live rows (as read, in
// one snapshot with the journal the fold read), both sorted_leases;
// `differences` the fold's problems, then per lease live in only one of
// them or differing in a field, a sentence naming it; `equal` when there
// are none.
ReplayReport compare_replay(const LeaseFold& fold, std::vector<std::string> fold_problems,
                            std::vector<LeaseInfo> table, std::int64_t at_ms);

// Validates the op of a journal_append by a caller: 1..64 bytes without NUL,
// and none of the ops only the store writes (kInvalidArgument otherwise).
void check_append_op(std::string_view op);

// One line of journal_export (without the newline).
std::string export_line(const JournalRecord& r);
// The record of one export_line (std::exception when it is not one).
JournalRecord record_from_export_line(std::string_view line);

// The kInternal error of a compaction refused because the chain fails
// verification at `bad`.
StoreError compact_refused(const VerifyReport::Bad& bad);

// Checks a chain fed in ascending seq order. min_seq/max_seq are the smallest
// and largest seq present (used to explain a record that sits at the wrong
// position: a record whose hash matches its contents at another seq within
// 100,000 of its own is "reordered", else "edited"). Stops at the first
// problem.
class ChainVerifier {
 public:
  ChainVerifier(std::int64_t min_seq, std::int64_t max_seq)
      : min_seq_(min_seq), max_seq_(max_seq) {}

  // Returns false once a problem was found (later records are ignored).
  bool feed(const JournalRecord& r);
  // Compares the chain's end with the head recorded in meta.
  VerifyReport finish(std::int64_t head_seq, std::string_view head_hash);
  // The first problem found so far (before finish: the records fed so far
  // chain correctly when nullopt).
  const std::optional<VerifyReport::Bad>& first_bad() const { return bad_; }
  // What the next record's prev_hash must be: the last record's hash, or
  // after a partial CHECKPOINT its anchor_hash. Empty before the first record.
  const std::string& chain_hash() const { return last_hash_; }

 private:
  void bad(std::int64_t seq, std::string kind, std::string detail);

  std::int64_t min_seq_;
  std::int64_t max_seq_;
  std::int64_t records_ = 0;
  std::optional<std::int64_t> last_seq_;
  std::string last_hash_;
  std::optional<VerifyReport::Bad> bad_;
};

// Plans a partial compaction (CompactOptions::through_seq before the head):
// feed it the chain ascending from its first record; it verifies and folds
// the records up to through_seq and checks that the first kept record
// (through_seq + 1) chains from them. The caller then deletes the records
// with seq <= through_seq and inserts checkpoint_record() in their place.
// Not synchronized.
class PartialCompaction {
 public:
  // min_seq / max_seq as for ChainVerifier.
  PartialCompaction(std::int64_t through_seq, std::int64_t min_seq, std::int64_t max_seq);

  // Returns false once no more records are needed (past the first kept one,
  // or a problem was found).
  bool feed(const JournalRecord& r);
  // The first problem, when the records fed do not verify or the first kept
  // record was not fed (a chain that ends at through_seq is not partial).
  std::optional<VerifyReport::Bad> problem() const;
  // Records fed with seq <= through_seq (the ones to delete).
  std::int64_t folded() const { return folded_; }
  // The CHECKPOINT to insert at seq through_seq (see the rule above).
  // Requires !problem().
  JournalRecord checkpoint_record(std::int64_t ts_ms, std::string_view project,
                                  std::string_view principal, std::string_view node,
                                  std::int64_t next_token) const;

 private:
  std::int64_t through_seq_;
  ChainVerifier verifier_;
  LeaseFold fold_;
  std::int64_t folded_ = 0;
  std::string anchor_hash_;  // hash of record through_seq
  bool saw_kept_ = false;
};

}  // namespace keel::state

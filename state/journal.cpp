// keel/state/journal.cpp
#include "state/journal.h"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "crypto/hex.h"
#include "crypto/sha256.h"
#include "state/agent_types.h"
#include "state/escalation_types.h"

namespace keel::state {
using crypto::Sha256;
using crypto::sha256_hex;
using crypto::to_hex;
namespace json = boost::json;

namespace {

constexpr std::int64_t kReorderWindow = 100'000;

void put_field(Sha256& h, std::string_view field) {
  const std::string len = std::to_string(field.size());
  h.update(len);
  h.update(":");
  h.update(field);
  h.update(",");
}

std::int64_t get_int(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) throw std::invalid_argument("missing " + std::string(key));
  return v->to_number<std::int64_t>();
}

std::string get_string(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    throw std::invalid_argument("missing string " + std::string(key));
  }
  return std::string(v->get_string());
}

}  // namespace

std::string journal_hash(std::string_view prev_hash, std::int64_t seq, std::int64_t ts,
                         std::string_view project, std::string_view principal,
                         std::string_view op, std::string_view subject,
                         std::string_view payload, std::string_view node) {
  Sha256 h;
  h.update(prev_hash);
  h.update("\n");
  put_field(h, std::to_string(seq));
  put_field(h, std::to_string(ts));
  put_field(h, project);
  put_field(h, principal);
  put_field(h, op);
  put_field(h, subject);
  put_field(h, payload);
  // Records written before nodes were recorded carry none and hash as they
  // always did; a record with a node covers it too.
  if (!node.empty()) put_field(h, node);
  const Sha256::Digest d = h.finish();
  return to_hex(d.data(), d.size());
}

LeaseMode lease_mode_from_string(std::string_view s) {
  if (s == "exclusive") return LeaseMode::kExclusive;
  if (s == "shared") return LeaseMode::kShared;
  throw std::invalid_argument("bad lease mode");
}

json::object lease_to_json(const LeaseInfo& l) {
  return json::object{{"lease_id", l.lease_id},
                      {"name", l.name},
                      {"holder", l.holder},
                      {"mode", to_string(l.mode)},
                      {"token", l.token},
                      {"ttl_ms", l.ttl_ms},
                      {"acquired_at", l.acquired_at_ms},
                      {"expires_at", l.expires_at_ms},
                      {"units", l.units},
                      {"group_id", l.group_id}};
}

LeaseInfo lease_from_json(const json::value& v) {
  const json::object& o = v.as_object();
  LeaseInfo l;
  l.lease_id = get_string(o, "lease_id");
  l.name = get_string(o, "name");
  l.holder = get_string(o, "holder");
  l.mode = lease_mode_from_string(get_string(o, "mode"));
  l.token = get_int(o, "token");
  l.ttl_ms = get_int(o, "ttl_ms");
  l.acquired_at_ms = get_int(o, "acquired_at");
  l.expires_at_ms = get_int(o, "expires_at");
  // Records and checkpoints written before counted and grouped leases have
  // neither: a plain lease of one unit, in no group.
  l.units = o.contains("units") ? get_int(o, "units") : 1;
  l.group_id = o.contains("group_id") ? get_string(o, "group_id") : std::string();
  return l;
}

json::object checkpoint_to_json(const Checkpoint& c) {
  json::array leases;
  for (const LeaseInfo& l : c.leases) leases.push_back(lease_to_json(l));
  return json::object{{"folded_through_seq", c.folded_through_seq},
                      {"folded_records", c.folded_records},
                      {"anchor_hash", c.anchor_hash},
                      {"leases", std::move(leases)},
                      {"next_token", c.next_token}};
}

std::optional<Checkpoint> checkpoint_from_payload(std::string_view payload) {
  try {
    const json::value v = json::parse(payload);
    const json::object& o = v.as_object();
    Checkpoint c;
    c.folded_through_seq = get_int(o, "folded_through_seq");
    c.folded_records = get_int(o, "folded_records");
    c.anchor_hash = get_string(o, "anchor_hash");
    c.next_token = get_int(o, "next_token");
    for (const json::value& l : o.at("leases").as_array()) {
      c.leases.push_back(lease_from_json(l));
    }
    if (c.anchor_hash.size() != 64 || c.folded_through_seq < 0 || c.folded_records < 0) {
      return std::nullopt;
    }
    return c;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<std::string> LeaseFold::apply(const JournalRecord& r) {
  const bool lease_op = r.op == ops::kAcquire || r.op == ops::kRenew ||
                        r.op == ops::kRelease || r.op == ops::kExpire ||
                        r.op == ops::kCheckpoint || r.op == ops::kScavenge ||
                        r.op == ops::kSuspend || r.op == ops::kAdopt ||
                        r.op == ops::kHeartbeat || r.op == ops::kUpgrade ||
                        r.op == ops::kDowngrade || r.op == ops::kAskRelease;
  if (!lease_op) return std::nullopt;
  try {
    if (r.op == ops::kCheckpoint) {
      const std::optional<Checkpoint> c = checkpoint_from_payload(r.payload);
      if (!c) throw std::invalid_argument("malformed checkpoint");
      leases_.clear();
      for (const LeaseInfo& l : c->leases) leases_[l.lease_id] = l;
      return std::nullopt;
    }
    const json::value v = json::parse(r.payload);
    const json::object& o = v.as_object();
    if (r.op == ops::kAskRelease) {
      // A request to the holders: no lease changes; only its shape is checked.
      get_string(o, "name");
      o.at("holders").as_array();
    } else if (r.op == ops::kAcquire) {
      LeaseInfo l = lease_from_json(v);
      leases_[l.lease_id] = std::move(l);
    } else if (r.op == ops::kRenew) {
      const auto it = leases_.find(get_string(o, "lease_id"));
      if (it == leases_.end()) throw std::invalid_argument("renew of an unknown lease");
      it->second.expires_at_ms = get_int(o, "expires_at");
    } else if (r.op == ops::kAdopt || r.op == ops::kUpgrade || r.op == ops::kDowngrade) {
      // The lease, as it stands after the change: ADOPT a new holder, token
      // and expiry; UPGRADE / DOWNGRADE a new mode and token (and UPGRADE a
      // new TTL and expiry). Same lease_id.
      LeaseInfo l = lease_from_json(v);
      if (!leases_.count(l.lease_id)) {
        throw std::invalid_argument(std::string(r.op == ops::kAdopt     ? "adopt"
                                                : r.op == ops::kUpgrade ? "upgrade"
                                                                        : "downgrade") +
                                    " of an unknown lease");
      }
      leases_[l.lease_id] = std::move(l);
    } else if (r.op == ops::kHeartbeat) {
      for (const json::value& e : o.at("leases").as_array()) {
        const auto it = leases_.find(get_string(e.as_object(), "lease_id"));
        if (it == leases_.end()) throw std::invalid_argument("heartbeat of an unknown lease");
        it->second.expires_at_ms = get_int(e.as_object(), "expires_at");
      }
    } else if (r.op == ops::kScavenge || r.op == ops::kSuspend) {
      // The holds freed with a dead (SCAVENGE) or suspended (SUSPEND) agent.
      const char* key = r.op == ops::kScavenge ? "leases" : "released";
      for (const json::value& e : o.at(key).as_array()) {
        leases_.erase(get_string(e.as_object(), "lease_id"));
      }
    } else {  // RELEASE, EXPIRE
      leases_.erase(get_string(o, "lease_id"));
    }
    return std::nullopt;
  } catch (const std::exception& e) {
    return "journal record " + std::to_string(r.seq) + " (" + r.op +
           "): malformed payload: " + e.what();
  }
}

void ChainVerifier::bad(std::int64_t seq, std::string kind, std::string detail) {
  if (!bad_) bad_ = VerifyReport::Bad{seq, std::move(kind), std::move(detail)};
}

bool ChainVerifier::feed(const JournalRecord& r) {
  if (bad_) return false;
  ++records_;
  const std::string seq_text = "record " + std::to_string(r.seq);

  if (journal_hash(r) != r.hash) {
    // Is it an intact record that sits at the wrong position? (Only positions
    // within kReorderWindow are tried, so a forged huge seq cannot stall us.)
    const std::int64_t lo = std::max(min_seq_, r.seq - kReorderWindow);
    const std::int64_t hi = std::min(max_seq_, r.seq + kReorderWindow);
    for (std::int64_t s = lo; s <= hi; ++s) {
      if (s == r.seq) continue;
      if (journal_hash(r.prev_hash, s, r.ts_ms, r.project, r.principal, r.op, r.subject,
                       r.payload, r.node) == r.hash) {
        bad(r.seq, "reordered",
            seq_text + " holds the record written as seq " + std::to_string(s));
        return false;
      }
    }
    bad(r.seq, "edited",
        seq_text + ": stored hash does not match its contents (modified after it was written)");
    return false;
  }

  const bool first = !last_seq_.has_value();
  if (r.op == ops::kCheckpoint) {
    if (!first) {
      bad(r.seq, "bad_checkpoint", seq_text + " is a CHECKPOINT but not the first record");
      return false;
    }
    const std::optional<Checkpoint> c = checkpoint_from_payload(r.payload);
    if (!c) {
      bad(r.seq, "bad_checkpoint", seq_text + ": CHECKPOINT payload is malformed");
      return false;
    }
    // Full: after the last folded record. Partial: in its place (journal.h).
    const bool full = c->folded_through_seq + 1 == r.seq;
    const bool partial = c->folded_through_seq == r.seq;
    if ((!full && !partial) || c->anchor_hash != r.prev_hash) {
      bad(r.seq, "bad_checkpoint",
          seq_text + ": CHECKPOINT does not follow its anchor (folded_through_seq " +
              std::to_string(c->folded_through_seq) + ")");
      return false;
    }
    if (partial) {
      // The kept records chain from the record this checkpoint replaced.
      last_seq_ = r.seq;
      last_hash_ = r.prev_hash;
      return true;
    }
  } else if (first) {
    if (r.seq != 1) {
      bad(1, "missing",
          "records 1.." + std::to_string(r.seq - 1) + " are missing (chain starts at " +
              std::to_string(r.seq) + " without a CHECKPOINT)");
      return false;
    }
    if (r.prev_hash != kZeroHash) {
      bad(r.seq, "reordered", seq_text + " is first but its prev_hash is not the zero hash");
      return false;
    }
  } else {
    if (r.seq != *last_seq_ + 1) {
      const std::int64_t from = *last_seq_ + 1;
      bad(from, "missing",
          "records " + std::to_string(from) + ".." + std::to_string(r.seq - 1) +
              " are missing");
      return false;
    }
    if (r.prev_hash != last_hash_) {
      bad(r.seq, "reordered",
          seq_text + ": prev_hash does not match record " + std::to_string(*last_seq_) +
              " (records were moved, replaced or reordered)");
      return false;
    }
  }
  last_seq_ = r.seq;
  last_hash_ = r.hash;
  return true;
}

VerifyReport ChainVerifier::finish(std::int64_t head_seq, std::string_view head_hash) {
  if (!bad_) {
    const std::int64_t last = last_seq_.value_or(0);
    if (head_seq > last) {
      bad(last + 1, "truncated",
          "the journal head is at seq " + std::to_string(head_seq) + " but the last record is " +
              std::to_string(last) + ": records " + std::to_string(last + 1) + ".." +
              std::to_string(head_seq) + " were removed from the tail");
    } else if (head_seq < last) {
      bad(head_seq + 1, "edited",
          "records after the journal head (seq " + std::to_string(head_seq) +
              ") were added outside the store");
    } else if (last_seq_ && head_hash != last_hash_) {
      bad(last, "edited", "record " + std::to_string(last) +
                              " is not the record the store last appended");
    }
  }
  VerifyReport report;
  report.records = records_;
  report.ok = !bad_.has_value();
  report.first_bad = bad_;
  return report;
}

PartialCompaction::PartialCompaction(std::int64_t through_seq, std::int64_t min_seq,
                                     std::int64_t max_seq)
    : through_seq_(through_seq), verifier_(min_seq, max_seq) {}

bool PartialCompaction::feed(const JournalRecord& r) {
  if (saw_kept_ || !verifier_.feed(r)) return false;
  if (r.seq > through_seq_) {
    saw_kept_ = true;  // verified: its prev_hash is the folded records' chain hash
    return false;
  }
  fold_.apply(r);  // a verified chain written by the store folds cleanly
  ++folded_;
  anchor_hash_ = verifier_.chain_hash();
  return true;
}

std::optional<VerifyReport::Bad> PartialCompaction::problem() const {
  if (verifier_.first_bad()) return verifier_.first_bad();
  if (!saw_kept_ || folded_ == 0) {
    return VerifyReport::Bad{through_seq_ + 1, "missing",
                             "record " + std::to_string(through_seq_ + 1) +
                                 ", the first to keep, does not follow the folded records"};
  }
  return std::nullopt;
}

JournalRecord PartialCompaction::checkpoint_record(std::int64_t ts_ms, std::string_view project,
                                                   std::string_view principal,
                                                   std::string_view node,
                                                   std::int64_t next_token) const {
  Checkpoint c;
  c.folded_through_seq = through_seq_;
  c.folded_records = folded_;
  c.anchor_hash = anchor_hash_;
  for (const auto& [id, l] : fold_.leases()) c.leases.push_back(l);
  c.leases = sorted_leases(std::move(c.leases));
  c.next_token = next_token;
  JournalRecord r;
  r.seq = through_seq_;
  r.ts_ms = ts_ms;
  r.project = project;
  r.principal = principal;
  r.op = ops::kCheckpoint;
  r.subject = "journal";
  r.payload = json::serialize(checkpoint_to_json(c));
  r.prev_hash = anchor_hash_;
  r.node = node;
  r.hash = journal_hash(r);
  return r;
}

std::vector<LeaseInfo> sorted_leases(std::vector<LeaseInfo> v) {
  std::sort(v.begin(), v.end(), [](const LeaseInfo& a, const LeaseInfo& b) {
    return a.name != b.name ? a.name < b.name : a.token < b.token;
  });
  return v;
}

namespace {

std::string describe(const LeaseInfo& l) {
  return l.lease_id + " (" + l.name + ", " + std::string(to_string(l.mode)) + ", holder " +
         l.holder + ", token " + std::to_string(l.token) + ")";
}

void compare_field(std::vector<std::string>& out, const LeaseInfo& j, std::string_view field,
                   const std::string& journal_value, const std::string& table_value) {
  if (journal_value != table_value) {
    out.push_back("lease " + j.lease_id + " " + std::string(field) + ": journal says " +
                  journal_value + ", table says " + table_value);
  }
}

}  // namespace

ReplayReport compare_replay(const LeaseFold& fold, std::vector<std::string> fold_problems,
                            std::vector<LeaseInfo> table_rows, std::int64_t at_ms) {
  ReplayReport report;
  report.at_ms = at_ms;
  std::map<std::string, LeaseInfo> table;
  for (const LeaseInfo& l : table_rows) table[l.lease_id] = l;
  for (const auto& [id, l] : fold.leases()) {
    if (l.expires_at_ms > report.at_ms) report.replayed.push_back(l);
  }
  report.replayed = sorted_leases(std::move(report.replayed));
  report.table = sorted_leases(std::move(table_rows));

  report.differences = std::move(fold_problems);
  std::map<std::string, const LeaseInfo*> replayed;
  for (const LeaseInfo& l : report.replayed) replayed[l.lease_id] = &l;
  for (const auto& [id, j] : replayed) {
    const auto it = table.find(id);
    if (it == table.end()) {
      report.differences.push_back("lease " + describe(*j) +
                                   " is live in the journal but not in the table");
      continue;
    }
    const LeaseInfo& t = it->second;
    auto& d = report.differences;
    compare_field(d, *j, "name", j->name, t.name);
    compare_field(d, *j, "holder", j->holder, t.holder);
    compare_field(d, *j, "mode", std::string(to_string(j->mode)), std::string(to_string(t.mode)));
    compare_field(d, *j, "token", std::to_string(j->token), std::to_string(t.token));
    compare_field(d, *j, "ttl_ms", std::to_string(j->ttl_ms), std::to_string(t.ttl_ms));
    compare_field(d, *j, "acquired_at", std::to_string(j->acquired_at_ms),
                  std::to_string(t.acquired_at_ms));
    compare_field(d, *j, "expires_at", std::to_string(j->expires_at_ms),
                  std::to_string(t.expires_at_ms));
    compare_field(d, *j, "units", std::to_string(j->units), std::to_string(t.units));
    compare_field(d, *j, "group_id", j->group_id, t.group_id);
  }
  for (const auto& [id, t] : table) {
    if (replayed.count(id) == 0) {
      report.differences.push_back("lease " + describe(t) +
                                   " is live in the table but not in the journal");
    }
  }
  report.equal = report.differences.empty();
  return report;
}

namespace {

// Ops whose records must describe a change the store itself made (replay
// folds them, or they report a state change).
bool is_reserved_op(std::string_view op) {
  for (const std::string_view reserved :
       {ops::kAcquire, ops::kRenew, ops::kRelease, ops::kExpire, ops::kCheckpoint,
        ops::kMemoryPut, ops::kMemoryDelete, ops::kMemoryTake, ops::kMemoryTxn, ops::kSessionEnd, ops::kEscalate,
        ops::kEscalateRefused, ops::kResolve, ops::kAgentStart, ops::kScavenge,
        ops::kHeartbeat, ops::kAdopt, ops::kSuspend, ops::kResume, ops::kUpgrade,
        ops::kDowngrade, ops::kAskRelease}) {
    if (op == reserved) return true;
  }
  return false;
}

}  // namespace

void check_append_op(std::string_view op) {
  if (op.empty() || op.size() > 64 || op.find('\0') != std::string_view::npos) {
    throw StoreError(ErrorCode::kInvalidArgument, "journal op must be 1..64 bytes without NUL");
  }
  if (is_reserved_op(op)) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "journal op " + std::string(op) + " is written only by the store");
  }
}

std::string export_line(const JournalRecord& r) {
  const json::object line{{"seq", r.seq},         {"ts", r.ts_ms},
                          {"project", r.project}, {"principal", r.principal},
                          {"op", r.op},           {"subject", r.subject},
                          {"payload", r.payload}, {"prev_hash", r.prev_hash},
                          {"hash", r.hash},       {"node", r.node}};
  return json::serialize(line);
}

JournalRecord record_from_export_line(std::string_view line) {
  const json::value v = json::parse(line);
  const json::object& o = v.as_object();
  JournalRecord r;
  r.seq = get_int(o, "seq");
  r.ts_ms = get_int(o, "ts");
  r.project = get_string(o, "project");
  r.principal = get_string(o, "principal");
  r.op = get_string(o, "op");
  r.subject = get_string(o, "subject");
  r.payload = get_string(o, "payload");
  r.prev_hash = get_string(o, "prev_hash");
  r.hash = get_string(o, "hash");
  r.node = get_string(o, "node");
  return r;
}

StoreError compact_refused(const VerifyReport::Bad& bad) {
  return StoreError(ErrorCode::kInternal,
                    "the journal fails verification at seq " + std::to_string(bad.seq) + " (" +
                        bad.kind + ": " + bad.detail + "); refusing to compact it");
}

}  // namespace keel::state

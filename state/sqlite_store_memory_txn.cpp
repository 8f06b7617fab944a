// keel/state/sqlite_store_memory_txn.cpp — memory_txn (issue 20): compares
// of versions, values and lease tokens, then one branch of puts and deletes.
//
// Every compare is read and the chosen branch written in ONE writer job
// (BEGIN IMMEDIATE: no other process writes between the check and the
// writes), with one MEMORY_TXN record. The writes reuse memory_put's row
// logic (find_memory_row / write_memory_row): an expired row counts as
// absent and its version restarts at 1; a put keeps the key's accepted fence
// token. A branch with no ops writes and journals nothing.
#include "crypto/sha256.h"
#include "state/journal.h"
#include "state/lease_name.h"
#include "state/memory_rules.h"
#include "state/sqlite_store.h"

namespace keel::state {
namespace json = boost::json;
using namespace sqlite_store_detail;

namespace {

// Whether a live lease of `project` on `name` (normalized) carries `token`.
bool lease_token_live(sqlite3* db, const std::string& project, const std::string& name,
                      std::int64_t token, std::int64_t now) {
  sql::Statement q(db,
                   "SELECT 1 FROM leases WHERE project = ? AND name = ? AND token = ?"
                   " AND expires_at > ?");
  q.bind_all(project, name, token, now);
  return q.step();
}

}  // namespace

TxnResult SqliteStore::memory_txn(const Principal& who, const TxnRequest& r) {
  memory_rules::check_txn_request(r, options_.memory_max_key_bytes,
                                  options_.memory_max_value_bytes);

  // Everything that does not depend on the rows, outside the job: slots
  // (capabilities), lease names, and each put's text, digest and search body.
  struct PreparedCompare {
    const TxnCompare* compare;
    std::optional<MemorySlot> slot;  // kVersion / kValue
    std::string lease_name;          // kLease, normalized
  };
  struct PreparedOp {
    const TxnOp* op;
    MemorySlot slot;
    std::string value_text;  // kPut
    std::string value_sha;
    std::string search_body;
  };
  std::vector<PreparedCompare> compares;
  for (const TxnCompare& c : r.compare) {
    PreparedCompare p{&c, std::nullopt, {}};
    if (c.kind == TxnCompare::Kind::kLease) {
      p.lease_name = normalize_lease_name(c.lease_name);
    } else {
      p.slot = memory_slot(who, c.tier, c.ns);
    }
    compares.push_back(std::move(p));
  }
  auto prepare_ops = [&](const std::vector<TxnOp>& ops) {
    std::vector<PreparedOp> out;
    for (const TxnOp& op : ops) {
      PreparedOp p{&op, memory_slot(who, op.tier, op.ns), {}, {}, {}};
      if (op.kind == TxnOp::Kind::kPut) {
        p.value_text = json::serialize(op.value);
        p.value_sha = crypto::sha256_hex(p.value_text);
        p.search_body = memory_rules::search_text(op.key, op.value);
      }
      out.push_back(std::move(p));
    }
    return out;
  };
  const std::vector<PreparedOp> then_ops = prepare_ops(r.then_ops);
  const std::vector<PreparedOp> else_ops = prepare_ops(r.else_ops);
  auto rules_slot = [](const MemorySlot& s) {
    return memory_rules::Slot{s.tier, s.ns, s.scope, s.session_id};
  };

  TxnResult result;
  writer_->submit([&](sqlite3* db) {
    memory_rules::TxnOutcome outcome;
    const std::int64_t t = now();
    for (const PreparedCompare& p : compares) {
      const TxnCompare& c = *p.compare;
      if (c.kind == TxnCompare::Kind::kLease) {
        outcome.lease_compare(c, p.lease_name,
                              lease_token_live(db, who.project, p.lease_name, c.token, t));
        continue;
      }
      const bool with_value = c.kind == TxnCompare::Kind::kValue;
      const std::optional<MemoryRow> row =
          find_memory_row(db, who.project, *p.slot, c.key, t, with_value);
      std::optional<json::value> value;
      if (row && with_value) value = json::parse(row->value_text);
      outcome.row_compare(c, rules_slot(*p.slot), row ? row->version : 0,
                          value ? &*value : nullptr);
    }
    const std::vector<PreparedOp>& branch = outcome.result().succeeded ? then_ops : else_ops;
    if (!branch.empty()) {
      for (const PreparedOp& p : branch) {
        const std::optional<MemoryRow> row = find_memory_row(db, who.project, p.slot, p.op->key, t);
        if (p.op->kind == TxnOp::Kind::kPut) {
          const TxnOpResult& put = outcome.put(*p.op, rules_slot(p.slot), row ? row->version : 0,
                                               t, static_cast<std::int64_t>(p.value_text.size()),
                                               p.value_sha);
          write_memory_row(db, who.project, p.slot, p.op->key, row, p.value_text, p.search_body,
                           put.version, t, put.expires_at_ms,
                           row ? row->fence_token : std::nullopt);
        } else {
          if (row) delete_memory_rows(db, {row->id});
          outcome.remove(*p.op, rules_slot(p.slot), row ? row->version : 0);
        }
      }
      outcome.result().journal_seq =
          append_record(db, t, who.project, who.agent, ops::kMemoryTxn, "memory:txn",
                        json::serialize(outcome.payload()))
              .seq;
    }
    result = std::move(outcome.result());
  });
  if (result.journal_seq != 0) notify_memory_change();
  return result;
}

}  // namespace keel::state

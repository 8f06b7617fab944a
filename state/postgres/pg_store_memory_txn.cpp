// keel/state/postgres/pg_store_memory_txn.cpp — PostgreSQL: memory_txn
// (issue 20): compares of versions, values and lease tokens, then one branch
// of puts and deletes, in ONE write job (one transaction) with ONE
// MEMORY_TXN record; nothing is written or journaled when the branch that
// runs is empty. The SQLite port is sqlite_store_memory_txn.cpp; checks,
// conditions and payloads are memory_rules'. The writes reuse memory_put's
// row logic (find_memory_row / write_memory_row in pg_store_memory.cpp): an
// expired row counts as absent and its version restarts at 1; a put keeps
// the key's accepted fence token.
//
// Why no compare can turn false before the branch's writes land, across
// nodes — including a compare on an ABSENT key, which no row lock can
// cover: every write of a project, on every node (put, delete, take, txn,
// end_session, import), is a write job that first locks the project's
// chain_heads row FOR UPDATE and keeps it to COMMIT. This job holds it from
// before its first read to its commit, so no insert, update or delete of
// the project's memory can come between its compares and its writes. That
// lock is the discipline for absent keys: an advisory lock on the key's
// hash, or INSERT ... ON CONFLICT, would only repeat it at the cost of a
// round trip. The rows read are also locked (SELECT ... FOR UPDATE, as
// memory_put's): the one writer outside the project's lock is another
// project's sweep of expired rows (drop_expired_memory), which skips locked
// rows. Lease writes take the same head lock, so a kLease compare holds
// until commit as well.
//
// Round trips: every lease check and every row the txn reads (the compared
// keys and the keys of both branches, each once, locked) go out in one
// pipeline; the chosen branch's writes are deferred and go out with the
// COMMIT. Only a second write to a key this txn inserted reads it again.
#include <algorithm>
#include <map>
#include <tuple>

#include "state/lease_name.h"
#include "state/memory_rules.h"
#include "state/postgres/pg_store.h"

namespace keel::state {
namespace json = boost::json;
using memory_rules::Slot;

namespace {

// A row the txn reads: its slot and key (each read once however many
// compares and ops name it).
struct Target {
  Slot slot;
  std::string key;
  bool with_value = false;  // a kValue compare reads its value
};

class Targets {
 public:
  std::size_t add(Slot slot, const std::string& key, bool with_value) {
    const auto id = std::make_tuple(slot.tier, slot.ns, slot.scope, key);
    auto [it, inserted] = index_.try_emplace(id, list_.size());
    if (inserted) list_.push_back(Target{std::move(slot), key, with_value});
    list_[it->second].with_value |= with_value;
    return it->second;
  }
  const std::vector<Target>& list() const { return list_; }

 private:
  std::vector<Target> list_;
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::size_t> index_;
};

}  // namespace

TxnResult PgStore::memory_txn(const Principal& who, const TxnRequest& r) {
  memory_rules::check_txn_request(r, options_.memory_max_key_bytes,
                                  options_.memory_max_value_bytes);

  // Everything that does not depend on the rows, outside the job: slots
  // (capabilities), keys, lease names, and each put's stored value.
  Targets targets;
  struct PreparedCompare {
    const TxnCompare* compare;
    std::size_t target = 0;  // kVersion / kValue
    std::string lease_name;  // kLease, normalized
  };
  struct PreparedOp {
    const TxnOp* op;
    std::size_t target = 0;
    StoredValue value;  // kPut
  };
  std::vector<PreparedCompare> compares;
  for (const TxnCompare& c : r.compare) {
    PreparedCompare p{&c, 0, {}};
    if (c.kind == TxnCompare::Kind::kLease) {
      p.lease_name = normalize_lease_name(c.lease_name);
    } else {
      check_memory_key(c.key);
      p.target = targets.add(memory_rules::slot_for(who, c.tier, c.ns), c.key,
                             c.kind == TxnCompare::Kind::kValue);
    }
    compares.push_back(std::move(p));
  }
  auto prepare_ops = [&](const std::vector<TxnOp>& ops) {
    std::vector<PreparedOp> out;
    for (const TxnOp& op : ops) {
      check_memory_key(op.key);
      PreparedOp p{&op, targets.add(memory_rules::slot_for(who, op.tier, op.ns), op.key, false),
                   {}};
      if (op.kind == TxnOp::Kind::kPut) p.value = stored_value(op.key, op.value);
      out.push_back(std::move(p));
    }
    return out;
  };
  const std::vector<PreparedOp> then_ops = prepare_ops(r.then_ops);
  const std::vector<PreparedOp> else_ops = prepare_ops(r.else_ops);

  TxnResult result;
  write(who.project, [&](Write& w) {
    result = TxnResult{};
    const std::int64_t t = w.now;

    // Every read in one round trip: the lease checks, then the rows.
    std::vector<pg::Connection::Statement> reads;
    for (const PreparedCompare& p : compares) {
      if (p.compare->kind != TxnCompare::Kind::kLease) continue;
      reads.push_back({"memory_txn_lease",
                       "SELECT 1 FROM leases WHERE project = $1 AND name = $2 AND token = $3"
                       " AND expires_at > $4",
                       {who.project, p.lease_name, p.compare->token, t}});
    }
    const std::size_t first_row = reads.size();
    for (const Target& target : targets.list()) {
      reads.push_back(
          find_memory_row_statement(who.project, target.slot, target.key, target.with_value));
    }
    const std::vector<pg::Result> got = w.c.exec_pipeline(reads);
    // Each target's row as this txn sees it (updated as the branch writes;
    // a row inserted here has id 0 until read again).
    std::vector<std::optional<MemoryRow>> rows;
    for (std::size_t i = 0; i < targets.list().size(); ++i) {
      rows.push_back(memory_row_found(w.c, got[first_row + i], t));
    }

    // Every compare is evaluated (no short cut): compare_held has one each.
    json::array compare_payloads;
    std::size_t lease_read = 0;
    for (const PreparedCompare& p : compares) {
      const TxnCompare& c = *p.compare;
      bool held = false;
      if (c.kind == TxnCompare::Kind::kLease) {
        held = got[lease_read++].rows() > 0;
        compare_payloads.push_back(
            memory_rules::txn_lease_compare_payload(p.lease_name, c.token, held));
      } else {
        const std::optional<MemoryRow>& row = rows[p.target];
        std::optional<json::value> value;
        if (row && c.kind == TxnCompare::Kind::kValue) value = json::parse(row->value_text);
        held = memory_rules::row_compare_holds(c, row ? row->version : 0,
                                               value ? &*value : nullptr);
        compare_payloads.push_back(
            memory_rules::txn_compare_payload(c, targets.list()[p.target].slot, held));
      }
      result.compare_held.push_back(held);
    }
    result.succeeded = std::find(result.compare_held.begin(), result.compare_held.end(), false) ==
                       result.compare_held.end();
    const std::vector<PreparedOp>& branch = result.succeeded ? then_ops : else_ops;
    if (branch.empty()) return;

    json::array op_payloads;
    for (const PreparedOp& p : branch) {
      const TxnOp& op = *p.op;
      const Target& target = targets.list()[p.target];
      std::optional<MemoryRow>& row = rows[p.target];
      // A row this txn inserted: its id, from the row itself (the insert
      // goes out first, with this read).
      if (row && row->id == 0) row = find_memory_row(w.c, who.project, target.slot, op.key, t);
      TxnOpResult out;
      out.kind = op.kind;
      out.key = op.key;
      if (op.kind == TxnOp::Kind::kPut) {
        out.version = (row ? row->version : 0) + 1;
        if (op.ttl_ms) out.expires_at_ms = t + *op.ttl_ms;
        const std::optional<std::int64_t> fence_token = row ? row->fence_token : std::nullopt;
        write_memory_row(w.c, who.project, target.slot, op.key, row, p.value, out.version, t,
                         out.expires_at_ms, fence_token);
        op_payloads.push_back(memory_rules::txn_put_payload(
            target.slot, op.key, out.version, static_cast<std::int64_t>(p.value.text.size()),
            p.value.sha256, out.expires_at_ms));
        row = MemoryRow{row ? row->id : 0, out.version, fence_token, {}};
      } else {
        out.deleted = row.has_value();
        op_payloads.push_back(memory_rules::txn_delete_payload(
            target.slot, op.key, row ? row->version : 0, out.deleted));
        if (row) delete_memory_rows(w.c, {row->id});
        row.reset();
      }
      result.results.push_back(std::move(out));
    }
    const json::object payload = memory_rules::txn_payload(
        result.succeeded, std::move(compare_payloads), std::move(op_payloads));
    result.journal_seq =
        w.append(who.agent, ops::kMemoryTxn, "memory:txn", json::serialize(payload)).seq;
    w.notify(kMemoryChannel);
  });
  return result;
}

}  // namespace keel::state

// keel/state/postgres/pg_store_memory.cpp — PostgreSQL: memory put / get /
// delete / list, end_session and the expired-row sweep (search:
// pg_store_memory_search.cpp).
//
// A port of sqlite_store_memory.cpp: rows are addressed by (project, tier,
// namespace, scope, key); a row whose expires_at <= now is invisible
// everywhere and treated as absent by writes (its version restarts at 1); it
// is deleted lazily. Every write is one PgStore::write job, so the row, its
// search vector and its journal record commit together, serialised with
// every other write of the project by the chain_heads lock. Errors, journal
// ops and payloads are SQLite's. A write that changed something NOTIFYs
// keel_memory (memory_take / memory_wait's waiters, on every node). The row
// helpers (find_memory_row, write_memory_row, stored_value) also serve
// take (pg_store_memory_take.cpp) and txn (pg_store_memory_txn.cpp).
#include <algorithm>

#include "crypto/hex.h"
#include "crypto/sha256.h"
#include "state/lease_name.h"
#include "state/memory_rules.h"
#include "state/postgres/pg_schema.h"
#include "state/postgres/pg_store.h"
#include "state/postgres/pg_store_memory_text.h"

namespace keel::state {
using crypto::sha256_hex;
namespace json = boost::json;
using namespace pg_store_detail;
using memory_rules::Slot;
using memory_rules::WriteStatus;
using memory_rules::subject_of;
using memory_rules::throw_if_refused;

// As SQLite's memory table (state/schema.cpp), plus `search`: the text-search
// vector of the row (key and every string leaf of the value), written by the
// same INSERT/UPDATE that writes the row. key is COLLATE "C" so that ORDER BY
// key and the prefix bounds of memory_list are byte order, as in SQLite,
// whatever the database's default collation.
const std::string_view pg_schema::kMemoryTablesV1 = R"sql(
-- scope: the session id for own-namespace session-tier rows, '' otherwise.
-- session_id: the session that last wrote a session-tier row ('' for
-- cross_run), for end_session and orphan cleanup.
CREATE TABLE memory(
  id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project     TEXT NOT NULL,
  tier        TEXT NOT NULL,
  namespace   TEXT NOT NULL,
  scope       TEXT NOT NULL,
  key         TEXT COLLATE "C" NOT NULL,
  session_id  TEXT NOT NULL,
  value       TEXT NOT NULL,
  version     BIGINT NOT NULL,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  expires_at  BIGINT,
  fence_token BIGINT,
  search      TSVECTOR NOT NULL,
  UNIQUE(project, tier, namespace, scope, key)
);
CREATE INDEX memory_by_session ON memory(project, tier, session_id);
CREATE INDEX memory_by_expiry ON memory(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX memory_search ON memory USING GIN(search);
)sql";

namespace {

constexpr int kExpiredSweep = 32;  // expired rows dropped per write, at most

Slot memory_slot(const Principal& who, Tier tier, Namespace ns) {
  return memory_rules::slot_for(who, tier, ns);
}

constexpr std::string_view kFindRowSql =
    "SELECT id, version, fence_token, expires_at FROM memory"
    " WHERE project = $1 AND tier = $2 AND namespace = $3 AND scope = $4 AND key = $5"
    " FOR UPDATE";
constexpr std::string_view kFindRowWithValueSql =
    "SELECT id, version, fence_token, expires_at, value FROM memory"
    " WHERE project = $1 AND tier = $2 AND namespace = $3 AND scope = $4 AND key = $5"
    " FOR UPDATE";

// Whether `fence` may guard a write by `who` to a key whose accepted fence
// high-water mark is `key_fence`: a live lease on exactly that name with that
// token, held by the caller, and not older than what the key accepted.
bool fence_valid(pg::Connection& c, const Principal& who, const Fence& fence,
                 const std::string& fence_name, std::optional<std::int64_t> key_fence,
                 std::int64_t now) {
  const pg::Result q = c.exec_prepared(
      "memory_fence_lease",
      "SELECT holder, expires_at FROM leases WHERE project = $1 AND name = $2 AND token = $3",
      {who.project, fence_name, fence.token});
  if (q.rows() == 0) return false;
  if (q.text(0, 0) != who.agent || q.int64(0, 1) <= now) return false;
  return !key_fence || fence.token >= *key_fence;
}

void journal_stale_fence(PgStore::Write& w, const Principal& who, const Fence& fence,
                         const std::string& fence_name, std::string_view action,
                         const std::string& subject) {
  w.append(who.agent, ops::kRefuse, subject,
           json::serialize(memory_rules::stale_fence_payload(action, fence_name, fence.token)));
}

// What a fenced / compare-and-set write found, decided inside its job.
// (Row: PgStore::MemoryRow, deduced: it is private to the store.)
template <class Row>
struct GuardedRow {
  WriteStatus status = WriteStatus::kOk;
  std::optional<Row> row;            // the visible row at the slot, if any
  std::int64_t current_version = 0;  // its version (0: none); unset on a stale fence
};

// Checks the fence of `r` on the row it writes (`row`, found by the caller;
// journaling a refusal by `action` when stale) and its expected version.
template <class Request, class Row>
GuardedRow<Row> guard_write(PgStore::Write& w, const Principal& who, std::optional<Row> row,
                            const Request& r, const std::optional<std::string>& fence_name,
                            std::string_view action, const std::string& subject) {
  GuardedRow<Row> g;
  g.row = std::move(row);
  if (r.fence && !fence_valid(w.c, who, *r.fence, *fence_name,
                              g.row ? g.row->fence_token : std::nullopt, w.now)) {
    journal_stale_fence(w, who, *r.fence, *fence_name, action, subject);
    g.status = WriteStatus::kStaleFence;
    return g;
  }
  g.current_version = g.row ? g.row->version : 0;
  if (r.expected_version && *r.expected_version != g.current_version) {
    g.status = WriteStatus::kMismatch;
  }
  return g;
}

}  // namespace

// ------------------------------------------------ rows (put, delete, take, txn)

void PgStore::check_memory_key(std::string_view key) const {
  // As SQLite's, and (PostgreSQL's text being UTF-8) the key must be valid
  // UTF-8: refused here with a clear error rather than deep in the server.
  // JSON input can never carry anything else.
  memory_rules::check_key(key, options_.memory_max_key_bytes);
  if (!pg_memory_text::valid_utf8(key)) {
    throw StoreError(ErrorCode::kInvalidArgument, "key must be valid UTF-8");
  }
}

PgStore::StoredValue PgStore::stored_value(std::string_view key,
                                           const json::value& value) const {
  StoredValue out;
  out.text = json::serialize(value);
  memory_rules::check_value_size(out.text, options_.memory_max_value_bytes);
  if (!pg_memory_text::valid_utf8(out.text)) {
    throw StoreError(ErrorCode::kInvalidArgument, "value must be valid UTF-8");
  }
  out.sha256 = sha256_hex(out.text);
  out.search_body = pg_memory_text::search_body(memory_rules::search_text(key, value));
  return out;
}

// The row is locked (FOR UPDATE) for this transaction. The lock matters
// only against drop_expired_memory run by a write of ANOTHER project (this
// project's writes are serialised by the chain_heads lock): it skips locked
// rows, and a row it deleted first is not seen here once its transaction
// commits.
pg::Connection::Statement PgStore::find_memory_row_statement(const std::string& project,
                                                             const Slot& slot,
                                                             std::string_view key,
                                                             bool with_value) {
  return pg::Connection::Statement{
      with_value ? "memory_find_row_value" : "memory_find_row",
      with_value ? kFindRowWithValueSql : kFindRowSql,
      {project, slot.tier, slot.ns, slot.scope, key}};
}

std::optional<PgStore::MemoryRow> PgStore::memory_row_found(pg::Connection& c,
                                                            const pg::Result& q,
                                                            std::int64_t now) {
  if (q.rows() == 0) return std::nullopt;
  MemoryRow row{q.int64(0, 0), q.int64(0, 1), q.opt_int64(0, 2), {}};
  const std::optional<std::int64_t> expires_at = q.opt_int64(0, 3);
  if (expires_at && *expires_at <= now) {
    delete_memory_rows(c, {row.id});
    return std::nullopt;
  }
  if (q.columns() > 4) row.value_text = q.text(0, 4);
  return row;
}

std::optional<PgStore::MemoryRow> PgStore::find_memory_row(pg::Connection& c,
                                                           const std::string& project,
                                                           const Slot& slot, std::string_view key,
                                                           std::int64_t now, bool with_value) {
  const pg::Connection::Statement s = find_memory_row_statement(project, slot, key, with_value);
  return memory_row_found(c, c.exec_prepared(s.name, s.sql, s.params), now);
}

void PgStore::write_memory_row(pg::Connection& c, const std::string& project, const Slot& slot,
                               std::string_view key, const std::optional<MemoryRow>& row,
                               const StoredValue& value, std::int64_t version, std::int64_t now,
                               std::optional<std::int64_t> expires_at,
                               std::optional<std::int64_t> fence_token) {
  // The row is locked since it was found: the update finds it.
  if (row) {
    c.defer("memory_update",
            "UPDATE memory SET value = $1, version = $2, updated_at = $3, expires_at = $4,"
            " fence_token = $5, session_id = $6, search = to_tsvector('english', $7)"
            " WHERE id = $8",
            {value.text, version, now, expires_at, fence_token, slot.session_id,
             value.search_body, row->id});
  } else {
    c.defer("memory_insert",
            "INSERT INTO memory(project, tier, namespace, scope, key, session_id, value, version,"
            " created_at, updated_at, expires_at, fence_token, search)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11,"
            " to_tsvector('english', $12))",
            {project, slot.tier, slot.ns, slot.scope, key, slot.session_id, value.text, version,
             now, expires_at, fence_token, value.search_body});
  }
}

void PgStore::delete_memory_rows(pg::Connection& c, const std::vector<std::int64_t>& ids) {
  if (ids.empty()) return;
  if (ids.size() == 1) {
    c.defer("memory_delete_id", "DELETE FROM memory WHERE id = $1", {ids.front()});
  } else {
    c.defer("memory_delete_ids", "DELETE FROM memory WHERE id = ANY($1::bigint[])",
            {pg_array(ids)});
  }
}

// ------------------------------------------------------------------ calls

PutResult PgStore::memory_put(const Principal& who, const PutRequest& r) {
  const Slot slot = memory_slot(who, r.tier, r.ns);
  check_memory_key(r.key);
  memory_rules::check_expected_version(r.expected_version);
  memory_rules::check_ttl(r.ttl_ms);
  const StoredValue value = stored_value(r.key, r.value);
  const std::optional<std::string> fence_name =
      r.fence ? std::optional<std::string>(normalize_lease_name(r.fence->name)) : std::nullopt;
  const std::string subject = subject_of(slot.tier, slot.ns, r.key);

  WriteStatus status = WriteStatus::kOk;
  std::int64_t current_version = 0;
  PutResult result;
  write(who.project, [&](Write& w) {
    status = WriteStatus::kOk;
    result = PutResult{};
    const std::int64_t t = w.now;
    // Deferred, as the writes below: they go out with the next read.
    drop_expired_memory(w.c, t, kExpiredSweep, /*deferred=*/true);
    const auto guard =
        guard_write(w, who, find_memory_row(w.c, who.project, slot, r.key, t), r, fence_name,
                    "memory_put", subject);
    status = guard.status;
    current_version = guard.current_version;
    if (status != WriteStatus::kOk) return;
    const std::optional<MemoryRow>& row = guard.row;
    result.version = current_version + 1;
    if (r.ttl_ms) result.expires_at_ms = t + *r.ttl_ms;
    // A fence raises the key's high-water mark; without one it is kept.
    std::optional<std::int64_t> fence_token = row ? row->fence_token : std::nullopt;
    if (r.fence) fence_token = r.fence->token;
    write_memory_row(w.c, who.project, slot, r.key, row, value, result.version, t,
                     result.expires_at_ms, fence_token);

    const json::object payload = memory_rules::put_payload(
        slot, r.key, result.version, static_cast<std::int64_t>(value.text.size()), value.sha256,
        result.expires_at_ms, r.fence);
    w.append(who.agent, ops::kMemoryPut, subject, json::serialize(payload));
    w.notify(kMemoryChannel);
  });
  throw_if_refused(status, fence_name ? *fence_name : std::string(), r.fence ? r.fence->token : 0,
                   r.expected_version.value_or(0), current_version, "write");
  return result;
}

GetResult PgStore::memory_get(const Principal& who, Tier tier, Namespace ns,
                              std::string_view key) {
  const Slot slot = memory_slot(who, tier, ns);
  check_memory_key(key);
  return read([&](pg::Connection& c) {
    const pg::Result q = c.exec_prepared(
        "memory_get",
        "SELECT value, version, updated_at, expires_at FROM memory"
        " WHERE project = $1 AND tier = $2 AND namespace = $3 AND scope = $4 AND key = $5"
        " AND (expires_at IS NULL OR expires_at > $6)",
        {who.project, slot.tier, slot.ns, slot.scope, key, now(c)});
    GetResult out;
    if (q.rows() == 0) return out;
    out.found = true;
    out.value = json::parse(q.text(0, 0));
    out.version = q.int64(0, 1);
    out.updated_at_ms = q.int64(0, 2);
    out.expires_at_ms = q.opt_int64(0, 3);
    return out;
  });
}

bool PgStore::memory_delete(const Principal& who, const DeleteRequest& r) {
  const Slot slot = memory_slot(who, r.tier, r.ns);
  check_memory_key(r.key);
  memory_rules::check_expected_version(r.expected_version);
  const std::optional<std::string> fence_name =
      r.fence ? std::optional<std::string>(normalize_lease_name(r.fence->name)) : std::nullopt;
  const std::string subject = subject_of(slot.tier, slot.ns, r.key);

  WriteStatus status = WriteStatus::kOk;
  std::int64_t current_version = 0;
  bool deleted = false;
  write(who.project, [&](Write& w) {
    status = WriteStatus::kOk;
    deleted = false;
    const auto guard =
        guard_write(w, who, find_memory_row(w.c, who.project, slot, r.key, w.now), r,
                    fence_name, "memory_delete", subject);
    status = guard.status;
    current_version = guard.current_version;
    if (status != WriteStatus::kOk) return;
    const std::optional<MemoryRow>& row = guard.row;
    if (!row) return;
    delete_memory_rows(w.c, {row->id});
    const json::object payload =
        memory_rules::delete_payload(slot, r.key, row->version, r.fence);
    w.append(who.agent, ops::kMemoryDelete, subject, json::serialize(payload));
    w.notify(kMemoryChannel);
    deleted = true;
  });
  throw_if_refused(status, fence_name ? *fence_name : std::string(), r.fence ? r.fence->token : 0,
                   r.expected_version.value_or(0), current_version, "delete");
  return deleted;
}

ListResult PgStore::memory_list(const Principal& who, const ListRequest& r) {
  const Slot slot = memory_slot(who, r.tier, r.ns);
  const int limit =
      memory_rules::page_limit(r.limit, options_.memory_page_size, options_.memory_max_page_size);
  const std::optional<std::string> after = memory_rules::decode_list_cursor(r.cursor);
  // (Every stored key is UTF-8, so a cursor keel returned always is.)
  if (after && !pg_memory_text::valid_utf8(*after)) {
    throw StoreError(ErrorCode::kInvalidArgument, "invalid list cursor");
  }
  if (!pg_memory_text::valid_utf8(r.prefix)) {
    throw StoreError(ErrorCode::kInvalidArgument, "prefix must be valid UTF-8");
  }
  // prefix_successor's bound, but always valid UTF-8 (PostgreSQL text):
  // the same rows, since every key is UTF-8 and key is COLLATE "C".
  const std::optional<std::string> upper = pg_memory_text::utf8_prefix_successor(r.prefix);

  // Two statements rather than "($6 IS NULL OR key < $6)", so that a
  // prepared statement's generic plan still bounds the index range. Keys are
  // never empty, so key > '' holds for every row when there is no cursor.
  static constexpr std::string_view kListHead =
      "SELECT key, version, updated_at, expires_at, octet_length(value) FROM memory"
      " WHERE project = $1 AND tier = $2 AND namespace = $3 AND scope = $4"
      " AND key >= $5 AND key > $6 AND (expires_at IS NULL OR expires_at > $7)";
  return read([&](pg::Connection& c) {
    std::vector<pg::Param> params{who.project, slot.tier,     slot.ns,     slot.scope,
                                  r.prefix,    after.value_or(""), now(c), limit + 1};
    pg::Result q;
    if (upper) {
      params.emplace_back(*upper);
      q = c.exec_prepared("memory_list_range",
                          std::string(kListHead) + " AND key < $9 ORDER BY key LIMIT $8", params);
    } else {
      q = c.exec_prepared("memory_list_from",
                          std::string(kListHead) + " ORDER BY key LIMIT $8", params);
    }
    ListResult out;
    for (int i = 0; i < q.rows(); ++i) {
      if (static_cast<int>(out.entries.size()) == limit) {
        out.next_cursor = memory_rules::encode_list_cursor(out.entries.back().key);
        break;
      }
      out.entries.push_back(
          ListEntry{q.text(i, 0), q.int64(i, 1), q.int64(i, 2), q.opt_int64(i, 3), q.int64(i, 4)});
    }
    return out;
  });
}

void PgStore::end_session(const Principal& who) {
  if (who.session_id.empty()) {
    throw StoreError(ErrorCode::kInvalidArgument, "the caller has no session to end");
  }
  write(who.project, [&](Write& w) {
    const pg::Result del = w.c.exec_prepared(
        "memory_end_session",
        "DELETE FROM memory WHERE tier = 'session' AND session_id = $1"
        " AND project = $2 AND (namespace = $3 OR namespace = 'shared')",
        {who.session_id, who.project, "agent:" + who.agent});
    const json::object payload{{"session_id", who.session_id}, {"count", del.affected()}};
    w.append(who.agent, ops::kSessionEnd, "session:" + who.session_id, json::serialize(payload));
    if (del.affected() > 0) w.notify(kMemoryChannel);
  });
}

namespace pg_store_detail {

// Across projects, like SQLite's. It runs inside some project's write, so a
// row of another project may be in use by that project's writer at the same
// moment: SKIP LOCKED leaves alone the rows a writer has locked (find_row
// locks the row it reads), and the locked rows are re-checked as of now.
void drop_expired_memory(pg::Connection& c, std::int64_t now, int limit, bool deferred) {
  constexpr std::string_view kSql =
      "DELETE FROM memory WHERE id IN (SELECT id FROM memory"
      " WHERE expires_at IS NOT NULL AND expires_at <= $1"
      " LIMIT $2 FOR UPDATE SKIP LOCKED)";
  if (deferred) {
    c.defer("memory_drop_expired", kSql, {now, limit});
  } else {
    c.exec_prepared("memory_drop_expired", kSql, {now, limit});
  }
}

}  // namespace pg_store_detail

}  // namespace keel::state

// keel/state/sqlite_store_memory.cpp — memory put / get / delete / list /
// search and end_session.
//
// Rows are addressed by (project, tier, namespace, scope, key); see
// MemorySlot. A row whose expires_at ≤ now is invisible everywhere and is
// treated as absent by writes (its version restarts at 1); it is deleted
// lazily. The FTS index (memory_fts, rowid = memory.id) is updated in the
// same job as the row.
#include <cctype>

#include "state/journal.h"
#include "state/memory_rules.h"
#include "state/lease_name.h"
#include "crypto/hex.h"
#include "crypto/sha256.h"
#include "state/sqlite_store.h"

namespace keel::state {
using crypto::sha256_hex;
using crypto::to_hex;
namespace json = boost::json;
using namespace sqlite_store_detail;
using memory_rules::WriteStatus;
using memory_rules::subject_of;
using memory_rules::throw_if_refused;

namespace {

constexpr int kExpiredSweep = 32;  // expired rows dropped per write, at most

// SqliteStore::MemorySlot (private) as the rules' Slot.
template <class MemorySlot>
memory_rules::Slot as_rules_slot(const MemorySlot& s) {
  return memory_rules::Slot{s.tier, s.ns, s.scope, s.session_id};
}

// Whether `fence` may guard a write by `who` to a key whose accepted fence
// high-water mark is `key_fence`: a live lease on exactly that name with that
// token, held by the caller, and not older than what the key accepted.
bool fence_valid(sqlite3* db, const Principal& who, const Fence& fence,
                 const std::string& fence_name, std::optional<std::int64_t> key_fence,
                 std::int64_t now) {
  sql::Statement q(db,
                   "SELECT holder, expires_at FROM leases"
                   " WHERE project = ? AND name = ? AND token = ?");
  q.bind_all(who.project, fence_name, fence.token);
  if (!q.step()) return false;
  if (q.text(0) != who.agent || q.int64(1) <= now) return false;
  return !key_fence || fence.token >= *key_fence;
}

void journal_stale_fence(sqlite3* db, const Principal& who, const Fence& fence,
                         const std::string& fence_name, std::string_view action,
                         const std::string& subject, std::int64_t now) {
  append_record(db, now, who.project, who.agent, ops::kRefuse, subject,
                json::serialize(memory_rules::stale_fence_payload(action, fence_name, fence.token)));
}


// Checks the fence of a write `r` to a key whose visible row has
// `current_version` (0: none) and accepted `key_fence` (journaling a refusal
// by `action` when stale), then its expected version.
template <class Request>
WriteStatus guard_write(sqlite3* db, const Principal& who, const Request& r,
                        std::int64_t current_version, std::optional<std::int64_t> key_fence,
                        const std::optional<std::string>& fence_name, std::string_view action,
                        const std::string& subject, std::int64_t now) {
  if (r.fence && !fence_valid(db, who, *r.fence, *fence_name, key_fence, now)) {
    journal_stale_fence(db, who, *r.fence, *fence_name, action, subject, now);
    return WriteStatus::kStaleFence;
  }
  if (r.expected_version && *r.expected_version != current_version) return WriteStatus::kMismatch;
  return WriteStatus::kOk;
}

}  // namespace

SqliteStore::MemorySlot SqliteStore::memory_slot(const Principal& who, Tier tier,
                                                 Namespace ns) const {
  memory_rules::Slot s = memory_rules::slot_for(who, tier, ns);
  return MemorySlot{std::move(s.tier), std::move(s.ns), std::move(s.scope),
                    std::move(s.session_id)};
}

void SqliteStore::check_key(std::string_view key) const {
  memory_rules::check_key(key, options_.memory_max_key_bytes);
}

std::optional<SqliteStore::MemoryRow> SqliteStore::find_memory_row(sqlite3* db,
                                                                   const std::string& project,
                                                                   const MemorySlot& slot,
                                                                   std::string_view key,
                                                                   std::int64_t now,
                                                                   bool with_value) {
  MemoryRow row;
  std::optional<std::int64_t> expires_at;
  {
    sql::Statement q(db, with_value
                             ? "SELECT id, version, fence_token, expires_at, value FROM memory"
                               " WHERE project = ? AND tier = ? AND namespace = ? AND scope = ?"
                               " AND key = ?"
                             : "SELECT id, version, fence_token, expires_at FROM memory"
                               " WHERE project = ? AND tier = ? AND namespace = ? AND scope = ?"
                               " AND key = ?");
    q.bind_all(project, slot.tier, slot.ns, slot.scope, key);
    if (!q.step()) return std::nullopt;
    row.id = q.int64(0);
    row.version = q.int64(1);
    row.fence_token = q.opt_int64(2);
    expires_at = q.opt_int64(3);
    if (with_value) row.value_text = q.text(4);
  }
  if (expires_at && *expires_at <= now) {
    delete_memory_rows(db, {row.id});
    return std::nullopt;
  }
  return row;
}

void SqliteStore::write_memory_row(sqlite3* db, const std::string& project, const MemorySlot& slot,
                                   std::string_view key, const std::optional<MemoryRow>& row,
                                   const std::string& value_text, const std::string& search_body,
                                   std::int64_t version, std::int64_t now,
                                   std::optional<std::int64_t> expires_at,
                                   std::optional<std::int64_t> fence_token) {
  std::int64_t id = 0;
  if (row) {
    id = row->id;
    sql::Statement u(db,
                     "UPDATE memory SET value = ?, version = ?, updated_at = ?, expires_at = ?,"
                     " fence_token = ?, session_id = ? WHERE id = ?");
    u.bind_all(value_text, version, now, expires_at, fence_token, slot.session_id, id);
    u.run();
    sql::Statement del_fts(db, "DELETE FROM memory_fts WHERE rowid = ?");
    del_fts.bind(1, id).run();
  } else {
    sql::Statement ins(db,
                       "INSERT INTO memory(project, tier, namespace, scope, key, session_id,"
                       " value, version, created_at, updated_at, expires_at, fence_token)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind_all(project, slot.tier, slot.ns, slot.scope, key, slot.session_id, value_text,
                 version, now, now, expires_at, fence_token);
    ins.run();
    id = sqlite3_last_insert_rowid(db);
  }
  sql::Statement fts(db, "INSERT INTO memory_fts(rowid, body) VALUES (?, ?)");
  fts.bind_all(id, search_body).run();
}

PutResult SqliteStore::memory_put(const Principal& who, const PutRequest& r) {
  const MemorySlot slot = memory_slot(who, r.tier, r.ns);
  check_key(r.key);
  memory_rules::check_expected_version(r.expected_version);
  memory_rules::check_ttl(r.ttl_ms);
  const std::string value_text = json::serialize(r.value);
  memory_rules::check_value_size(value_text, options_.memory_max_value_bytes);
  const std::string value_sha = sha256_hex(value_text);
  const std::string body = memory_rules::search_text(r.key, r.value);
  const std::optional<std::string> fence_name =
      r.fence ? std::optional<std::string>(normalize_lease_name(r.fence->name)) : std::nullopt;
  const std::string subject = subject_of(slot.tier, slot.ns, r.key);

  WriteStatus status = WriteStatus::kOk;
  std::int64_t current_version = 0;
  PutResult result;
  writer_->submit([&](sqlite3* db) {
    status = WriteStatus::kOk;
    result = PutResult{};
    const std::int64_t t = now();
    drop_expired_memory(db, t, kExpiredSweep);
    const std::optional<MemoryRow> row = find_memory_row(db, who.project, slot, r.key, t);
    current_version = row ? row->version : 0;
    status = guard_write(db, who, r, current_version, row ? row->fence_token : std::nullopt,
                         fence_name, "memory_put", subject, t);
    if (status != WriteStatus::kOk) return;
    result.version = current_version + 1;
    if (r.ttl_ms) result.expires_at_ms = t + *r.ttl_ms;
    // A fence raises the key's high-water mark; without one it is kept.
    std::optional<std::int64_t> fence_token = row ? row->fence_token : std::nullopt;
    if (r.fence) fence_token = r.fence->token;
    write_memory_row(db, who.project, slot, r.key, row, value_text, body, result.version, t,
                     result.expires_at_ms, fence_token);

    const json::object payload = memory_rules::put_payload(
        as_rules_slot(slot), r.key, result.version, static_cast<std::int64_t>(value_text.size()),
        value_sha, result.expires_at_ms, r.fence);
    append_record(db, t, who.project, who.agent, ops::kMemoryPut, subject,
                  json::serialize(payload));
  });
  throw_if_refused(status, fence_name ? *fence_name : std::string(), r.fence ? r.fence->token : 0,
                   r.expected_version.value_or(0), current_version, "write");
  notify_memory_change();
  return result;
}

GetResult SqliteStore::memory_get(const Principal& who, Tier tier, Namespace ns,
                                  std::string_view key) {
  const MemorySlot slot = memory_slot(who, tier, ns);
  check_key(key);
  ReadConnection conn = read_connection();
  sql::Statement q(conn.get(),
                   "SELECT value, version, updated_at, expires_at FROM memory"
                   " WHERE project = ? AND tier = ? AND namespace = ? AND scope = ? AND key = ?"
                   " AND (expires_at IS NULL OR expires_at > ?)");
  q.bind_all(who.project, slot.tier, slot.ns, slot.scope, key, now());
  GetResult out;
  if (!q.step()) return out;
  out.found = true;
  out.value = json::parse(q.text(0));
  out.version = q.int64(1);
  out.updated_at_ms = q.int64(2);
  out.expires_at_ms = q.opt_int64(3);
  return out;
}

bool SqliteStore::memory_delete(const Principal& who, const DeleteRequest& r) {
  const MemorySlot slot = memory_slot(who, r.tier, r.ns);
  check_key(r.key);
  memory_rules::check_expected_version(r.expected_version);
  const std::optional<std::string> fence_name =
      r.fence ? std::optional<std::string>(normalize_lease_name(r.fence->name)) : std::nullopt;
  const std::string subject = subject_of(slot.tier, slot.ns, r.key);

  WriteStatus status = WriteStatus::kOk;
  std::int64_t current_version = 0;
  bool deleted = false;
  writer_->submit([&](sqlite3* db) {
    status = WriteStatus::kOk;
    deleted = false;
    const std::int64_t t = now();
    const std::optional<MemoryRow> row = find_memory_row(db, who.project, slot, r.key, t);
    current_version = row ? row->version : 0;
    status = guard_write(db, who, r, current_version, row ? row->fence_token : std::nullopt,
                         fence_name, "memory_delete", subject, t);
    if (status != WriteStatus::kOk) return;
    if (!row) return;
    delete_memory_rows(db, {row->id});
    const json::object payload =
        memory_rules::delete_payload(as_rules_slot(slot), r.key, row->version, r.fence);
    append_record(db, t, who.project, who.agent, ops::kMemoryDelete, subject,
                  json::serialize(payload));
    deleted = true;
  });
  throw_if_refused(status, fence_name ? *fence_name : std::string(), r.fence ? r.fence->token : 0,
                   r.expected_version.value_or(0), current_version, "delete");
  if (deleted) notify_memory_change();
  return deleted;
}

ListResult SqliteStore::memory_list(const Principal& who, const ListRequest& r) {
  const MemorySlot slot = memory_slot(who, r.tier, r.ns);
  const int limit =
      memory_rules::page_limit(r.limit, options_.memory_page_size, options_.memory_max_page_size);
  const std::optional<std::string> after = memory_rules::decode_list_cursor(r.cursor);
  const std::optional<std::string> upper = prefix_successor(r.prefix);

  ReadConnection conn = read_connection();
  sql::Statement q(conn.get(),
                   "SELECT key, version, updated_at, expires_at, length(CAST(value AS BLOB))"
                   " FROM memory"
                   " WHERE project = ?1 AND tier = ?2 AND namespace = ?3 AND scope = ?4"
                   " AND key >= ?5 AND (?6 IS NULL OR key < ?6) AND (?7 IS NULL OR key > ?7)"
                   " AND (expires_at IS NULL OR expires_at > ?8)"
                   " ORDER BY key LIMIT ?9");
  q.bind_all(who.project, slot.tier, slot.ns, slot.scope, r.prefix, upper, after, now(), limit + 1);
  ListResult out;
  while (q.step()) {
    if (static_cast<int>(out.entries.size()) == limit) {
      out.next_cursor = memory_rules::encode_list_cursor(out.entries.back().key);
      break;
    }
    out.entries.push_back(
        ListEntry{q.text(0), q.int64(1), q.int64(2), q.opt_int64(3), q.int64(4)});
  }
  return out;
}

namespace {

// Turns free text into an FTS5 query that cannot be a syntax error: every
// whitespace-separated word becomes a quoted string ("" escapes a quote), and
// the strings are ANDed (FTS5's implicit operator). Words without any letter
// or digit are dropped, since they hold no token to match.
std::string fts_query(std::string_view text) {
  std::string out;
  for (const std::string_view word : memory_rules::query_words(text)) {
    if (!out.empty()) out += ' ';
    out += '"';
    for (const char c : word) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }
  return out;
}

}  // namespace

std::vector<SearchHit> SqliteStore::memory_search(const Principal& who, const SearchRequest& r) {
  memory_rules::check_search_query(r.query);
  const int limit =
      memory_rules::page_limit(r.limit, options_.memory_page_size, options_.memory_max_page_size);
  const std::vector<memory_rules::Slot> visible = memory_rules::search_slots(who, r);
  if (visible.empty()) return {};
  const std::string match = fts_query(r.query);
  if (match.empty()) return {};

  std::string where;
  for (std::size_t i = 0; i < visible.size(); ++i) {
    if (i > 0) where += " OR ";
    where += "(m.tier = ? AND m.namespace = ? AND m.scope = ?)";
  }
  ReadConnection conn = read_connection();
  sql::Statement q(conn.get(),
                   "SELECT m.tier, m.namespace, m.key, m.value, m.version, bm25(memory_fts)"
                   " FROM memory_fts JOIN memory m ON m.id = memory_fts.rowid"
                   " WHERE memory_fts MATCH ? AND m.project = ?"
                   " AND (m.expires_at IS NULL OR m.expires_at > ?) AND (" +
                       where + ") ORDER BY bm25(memory_fts), m.key LIMIT ?");
  q.bind_all(match, who.project, now());
  int p = 4;
  for (const memory_rules::Slot& v : visible) {
    q.bind(p, v.tier).bind(p + 1, v.ns).bind(p + 2, v.scope);
    p += 3;
  }
  q.bind(p, limit);
  std::vector<SearchHit> hits;
  while (q.step()) {
    SearchHit h;
    h.tier = q.text(0) == "session" ? Tier::kSession : Tier::kCrossRun;
    h.ns = q.text(1) == "shared" ? Namespace::kShared : Namespace::kOwn;
    h.key = q.text(2);
    h.value = json::parse(q.text(3));
    h.version = q.int64(4);
    h.score = -q.real(5);
    hits.push_back(std::move(h));
  }
  return hits;
}

void SqliteStore::end_session(const Principal& who) {
  if (who.session_id.empty()) {
    throw StoreError(ErrorCode::kInvalidArgument, "the caller has no session to end");
  }
  writer_->submit([&](sqlite3* db) {
    const std::int64_t t = now();
    std::vector<std::int64_t> ids;
    {
      sql::Statement q(db,
                       "SELECT id FROM memory WHERE tier = 'session' AND session_id = ?"
                       " AND project = ? AND (namespace = ? OR namespace = 'shared')");
      q.bind_all(who.session_id, who.project, "agent:" + who.agent);
      while (q.step()) ids.push_back(q.int64(0));
    }
    delete_memory_rows(db, ids);
    const json::object payload{{"session_id", who.session_id},
                               {"count", static_cast<std::int64_t>(ids.size())}};
    append_record(db, t, who.project, who.agent, ops::kSessionEnd, "session:" + who.session_id,
                  json::serialize(payload));
  });
  notify_memory_change();
}

}  // namespace keel::state

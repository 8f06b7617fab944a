// keel/state/sqlite_store_fanout.cpp — fanout's result cache and circuit
// breakers on SQLite (tables fanout_cache, fanout_breakers; migration 6).
//
// The cache is a bounded LRU per project: used_at is set when an entry is
// stored and again on every hit, and a store that leaves more than
// fanout_cache_max_entries rows drops the least recently used ones in the
// same transaction. A lookup reads every digest of the batch in one SELECT on
// a read connection and, only when something was found, counts the hits in
// one writer job: a cold run (all misses) writes nothing.
//
// Neither table is journaled: both are a memory of what happened, not state
// an agent acts on; the FORK/JOIN records of a run say what it did.
#include <map>

#include <boost/json.hpp>

#include "state/fanout_rules.h"
#include "state/sqlite_store.h"

namespace keel::state {
namespace json = boost::json;
using namespace sqlite_store_detail;

using fanout_rules::check_breaker;
using fanout_rules::check_digest;
using fanout_rules::digest_array;

std::vector<std::optional<FanoutCacheEntry>> SqliteStore::fanout_cache_lookup(
    const Principal& who, const std::vector<std::string>& digests) {
  require(who, caps::kFanout);
  for (const std::string& d : digests) check_digest(d);
  std::vector<std::optional<FanoutCacheEntry>> out(digests.size());
  if (digests.empty()) return out;
  const std::string list = digest_array(digests);
  const std::int64_t t = now();

  std::map<std::string, FanoutCacheEntry, std::less<>> found;
  {
    ReadConnection conn = read_connection();
    sql::Statement q(conn.get(),
                     "SELECT digest, result, stored_at, expires_at, hits FROM fanout_cache"
                     " WHERE project = ? AND expires_at > ?"
                     " AND digest IN (SELECT value FROM json_each(?))");
    q.bind_all(who.project, t, list);
    while (q.step()) {
      FanoutCacheEntry e{q.text(0), q.text(1), q.int64(2), q.int64(3), q.int64(4) + 1};
      found.emplace(e.digest, std::move(e));
    }
  }
  if (found.empty()) return out;

  json::array hit_list;
  for (const auto& [digest, e] : found) hit_list.emplace_back(digest);
  writer_->submit([&](sqlite3* db) {
    sql::Statement(db,
                   "UPDATE fanout_cache SET hits = hits + 1, used_at = ?"
                   " WHERE project = ? AND digest IN (SELECT value FROM json_each(?))")
        .bind_all(t, who.project, json::serialize(hit_list))
        .run();
  });
  for (std::size_t i = 0; i < digests.size(); ++i) {
    if (auto it = found.find(digests[i]); it != found.end()) out[i] = it->second;
  }
  return out;
}

void SqliteStore::fanout_cache_store(const Principal& who, const FanoutCacheEntry& entry) {
  require(who, caps::kFanout);
  check_digest(entry.digest);
  const std::int64_t max_entries = std::max<std::int64_t>(1, options_.fanout_cache_max_entries);
  writer_->submit([&](sqlite3* db) {
    const std::int64_t t = now();
    sql::Statement(db,
                   "INSERT INTO fanout_cache(project, digest, result, stored_at, expires_at, used_at,"
                   " hits) VALUES(?1, ?2, ?3, ?4, ?5, ?4, 0) ON CONFLICT(project, digest) DO UPDATE"
                   " SET result = ?3, stored_at = ?4, expires_at = ?5, used_at = ?4, hits = 0")
        .bind_all(who.project, entry.digest, entry.result_json, t, entry.expires_at_ms)
        .run();
    // The newest row beyond the bound, if any: it and every older one go.
    sql::Statement edge(db,
                        "SELECT used_at, digest FROM fanout_cache WHERE project = ?"
                        " ORDER BY used_at DESC, digest DESC LIMIT 1 OFFSET ?");
    edge.bind_all(who.project, max_entries);
    if (!edge.step()) return;
    const std::int64_t used_at = edge.int64(0);
    const std::string digest = edge.text(1);
    edge.reset();
    sql::Statement(db,
                   "DELETE FROM fanout_cache WHERE project = ?1"
                   " AND (used_at < ?2 OR (used_at = ?2 AND digest <= ?3))")
        .bind_all(who.project, used_at, digest)
        .run();
  });
}

std::vector<FanoutBreaker> SqliteStore::fanout_breakers(const Principal& who) {
  require(who, caps::kFanout);
  ReadConnection conn = read_connection();
  sql::Statement q(conn.get(),
                   "SELECT provider, state, consecutive_failures, opened, opened_at, updated_at"
                   " FROM fanout_breakers WHERE project = ? ORDER BY provider");
  q.bind_all(who.project);
  return q.all([](const sql::Statement& r) {
    return FanoutBreaker{r.text(0), r.text(1), r.int64(2), r.int64(3), r.int64(4), r.int64(5)};
  });
}

void SqliteStore::fanout_breaker_store(const Principal& who, const FanoutBreaker& breaker) {
  require(who, caps::kFanout);
  check_breaker(breaker);
  writer_->submit([&](sqlite3* db) {
    sql::Statement(db,
                   "INSERT INTO fanout_breakers(project, provider, state, consecutive_failures,"
                   " opened, opened_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                   " ON CONFLICT(project, provider) DO UPDATE SET state = ?3,"
                   " consecutive_failures = ?4, opened = ?5, opened_at = ?6, updated_at = ?7")
        .bind_all(who.project, breaker.provider, breaker.state, breaker.consecutive_failures,
                  breaker.opened, breaker.opened_at_ms, now())
        .run();
  });
}

}  // namespace keel::state

// keel/state/postgres/pg_store_fanout.cpp — fanout's result cache and
// circuit breakers on PostgreSQL (tables fanout_cache, fanout_breakers;
// migration 3). A port of sqlite_store_fanout.cpp: same checks, errors and
// LRU rule (used_at set on store and on every hit; a store that leaves more
// than fanout_cache_max_entries rows of the project drops the least recently
// used in its transaction). A lookup is one SELECT for the whole batch and,
// only when something was found, one UPDATE that counts the hits. Neither
// table is journaled, so these writes take a pooled connection (a plain
// transaction for a store) rather than the project's head lock and its
// write queue, as claim_request does.
#include <map>

#include <boost/json.hpp>

#include "state/fanout_rules.h"
#include "state/postgres/pg_store.h"

namespace keel::state {
namespace json = boost::json;
using namespace pg_store_detail;

using fanout_rules::check_breaker;
using fanout_rules::check_digest;
using fanout_rules::digest_array;

std::vector<std::optional<FanoutCacheEntry>> PgStore::fanout_cache_lookup(
    const Principal& who, const std::vector<std::string>& digests) {
  require(who, caps::kFanout);
  for (const std::string& d : digests) check_digest(d);
  std::vector<std::optional<FanoutCacheEntry>> out(digests.size());
  if (digests.empty()) return out;
  const std::string list = digest_array(digests);

  std::map<std::string, FanoutCacheEntry, std::less<>> found = read([&](pg::Connection& c) {
    const pg::Result r = c.exec_prepared(
        "fanout_cache_lookup",
        "SELECT digest, result, stored_at, expires_at, hits FROM fanout_cache"
        " WHERE project = $1 AND expires_at > $2"
        " AND digest = ANY(SELECT json_array_elements_text($3::json))",
        {who.project, now(c), list});
    std::map<std::string, FanoutCacheEntry, std::less<>> rows;
    for (int i = 0; i < r.rows(); ++i) {
      FanoutCacheEntry e{r.text(i, 0), r.text(i, 1), r.int64(i, 2), r.int64(i, 3),
                         r.int64(i, 4) + 1};
      rows.emplace(e.digest, std::move(e));
    }
    return rows;
  });
  if (found.empty()) return out;

  json::array hit_list;
  for (const auto& [digest, e] : found) hit_list.emplace_back(digest);
  const std::string hits = json::serialize(hit_list);
  read([&](pg::Connection& c) {
    c.exec_prepared("fanout_cache_hit",
                    "UPDATE fanout_cache SET hits = hits + 1, used_at = $1"
                    " WHERE project = $2 AND digest = ANY(SELECT json_array_elements_text($3::json))",
                    {now(c), who.project, hits});
  });
  for (std::size_t i = 0; i < digests.size(); ++i) {
    if (auto it = found.find(digests[i]); it != found.end()) out[i] = it->second;
  }
  return out;
}

void PgStore::fanout_cache_store(const Principal& who, const FanoutCacheEntry& entry) {
  require(who, caps::kFanout);
  check_digest(entry.digest);
  const std::int64_t max_entries = std::max<std::int64_t>(1, options_.fanout_cache_max_entries);
  read([&](pg::Connection& c) {
    pg::Transaction tx(c, pg::Transaction::DeferBegin{});
    // One store of the project's cache at a time (its own lock, not the
    // head lock), so the bound holds exactly when stores race.
    c.exec_prepared("fanout_cache_lock",
                    "SELECT pg_advisory_xact_lock(hashtextextended('keel.fanout_cache:' || $1, 0))",
                    {who.project});
    const std::int64_t t = now(c);
    c.exec_prepared(
        "fanout_cache_store",
        "INSERT INTO fanout_cache(project, digest, result, stored_at, expires_at, used_at, hits)"
        " VALUES($1, $2, $3, $4, $5, $4, 0) ON CONFLICT(project, digest) DO UPDATE"
        " SET result = $3, stored_at = $4, expires_at = $5, used_at = $4, hits = 0",
        {who.project, entry.digest, entry.result_json, t, entry.expires_at_ms});
    // The newest row beyond the bound, if any: it and every older one go.
    const pg::Result edge = c.exec_prepared(
        "fanout_cache_edge",
        "SELECT used_at, digest FROM fanout_cache WHERE project = $1"
        " ORDER BY used_at DESC, digest DESC LIMIT 1 OFFSET $2",
        {who.project, max_entries});
    if (edge.rows() == 1) {
      c.exec_prepared("fanout_cache_trim",
                      "DELETE FROM fanout_cache WHERE project = $1"
                      " AND (used_at < $2 OR (used_at = $2 AND digest <= $3))",
                      {who.project, edge.int64(0, 0), edge.text(0, 1)});
    }
    tx.commit();
  });
}

std::vector<FanoutBreaker> PgStore::fanout_breakers(const Principal& who) {
  require(who, caps::kFanout);
  return read([&](pg::Connection& c) {
    const pg::Result r = c.exec_prepared(
        "fanout_breakers",
        "SELECT provider, state, consecutive_failures, opened, opened_at, updated_at"
        " FROM fanout_breakers WHERE project = $1 ORDER BY provider",
        {who.project});
    std::vector<FanoutBreaker> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back(FanoutBreaker{r.text(i, 0), r.text(i, 1), r.int64(i, 2), r.int64(i, 3),
                                  r.int64(i, 4), r.int64(i, 5)});
    }
    return out;
  });
}

void PgStore::fanout_breaker_store(const Principal& who, const FanoutBreaker& breaker) {
  require(who, caps::kFanout);
  check_breaker(breaker);
  read([&](pg::Connection& c) {
    c.exec_prepared(
        "fanout_breaker_store",
        "INSERT INTO fanout_breakers(project, provider, state, consecutive_failures, opened,"
        " opened_at, updated_at) VALUES($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT(project, provider) DO UPDATE SET state = $3, consecutive_failures = $4,"
        " opened = $5, opened_at = $6, updated_at = $7",
        {who.project, breaker.provider, breaker.state, breaker.consecutive_failures,
         breaker.opened, breaker.opened_at_ms, now(c)});
  });
}

}  // namespace keel::state

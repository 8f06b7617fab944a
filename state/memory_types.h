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

}  // namespace keel::state

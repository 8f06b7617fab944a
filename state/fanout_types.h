// keel/state/fanout_types.h — what fanout keeps in the store so that it
// outlives a run and its process: the result cache and the circuit breakers
// (Store::fanout_cache_*, Store::fanout_breaker*). Part of the Store contract
// (state/store.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace keel::state {

// One cached branch result, per project, keyed by the branch's digest (a
// hash over its tool or command, canonical arguments, cwd and allowed env;
// computed by tools/, opaque here).
struct FanoutCacheEntry {
  std::string digest;       // 1..128 bytes
  std::string result_json;  // the branch's result, as the run reports it
  std::int64_t stored_at_ms = 0;
  std::int64_t expires_at_ms = 0;  // invisible from then on
  std::int64_t hits = 0;           // lookups answered by it so far
};

// A provider's circuit breaker ("tool:NAME", "command:ARGV0", "sample"),
// per project, as tools/fanout_policy.h's CircuitBreakers keeps it.
struct FanoutBreaker {
  std::string provider;      // 1..256 bytes
  std::string state;         // "closed" | "open" | "half_open"
  std::int64_t consecutive_failures = 0;
  std::int64_t opened = 0;            // times it opened
  std::int64_t opened_at_ms = 0;      // store clock; 0: never
  std::int64_t updated_at_ms = 0;     // set by the store
};

}  // namespace keel::state

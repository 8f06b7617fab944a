// keel/state/fanout_rules.h — the checks and encodings both backends apply
// to fanout's cache and breakers (Store::fanout_cache_*, fanout_breaker*).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "state/fanout_types.h"

namespace keel::state::fanout_rules {

inline constexpr std::size_t kMaxDigestBytes = 128;
inline constexpr std::size_t kMaxProviderBytes = 256;

// Throw StoreError(kInvalidArgument) naming the field.
void check_digest(std::string_view digest);
void check_breaker(const FanoutBreaker& b);

// The digests as one JSON array text, bound as a single parameter whatever
// the batch size (SQLite json_each, PostgreSQL jsonb_array_elements_text).
std::string digest_array(const std::vector<std::string>& digests);

}  // namespace keel::state::fanout_rules

// keel/state/fanout_rules.cpp
#include "state/fanout_rules.h"

#include <boost/json.hpp>

#include "state/principal.h"

namespace keel::state::fanout_rules {

void check_digest(std::string_view digest) {
  if (digest.empty() || digest.size() > kMaxDigestBytes) {
    throw StoreError(ErrorCode::kInvalidArgument, "fanout cache digest: 1..128 bytes, got " +
                                                      std::to_string(digest.size()));
  }
}

void check_breaker(const FanoutBreaker& b) {
  if (b.provider.empty() || b.provider.size() > kMaxProviderBytes) {
    throw StoreError(ErrorCode::kInvalidArgument, "fanout breaker provider: 1..256 bytes");
  }
  if (b.state != "closed" && b.state != "open" && b.state != "half_open") {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "fanout breaker state: closed, open or half_open, got '" + b.state + "'");
  }
  if (b.consecutive_failures < 0 || b.opened < 0 || b.opened_at_ms < 0) {
    throw StoreError(ErrorCode::kInvalidArgument, "fanout breaker counts: must be >= 0");
  }
}

std::string digest_array(const std::vector<std::string>& digests) {
  boost::json::array a;
  a.reserve(digests.size());
  for (const std::string& d : digests) a.emplace_back(d);
  return boost::json::serialize(a);
}

}  // namespace keel::state::fanout_rules

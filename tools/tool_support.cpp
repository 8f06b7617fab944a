#include "tools/tool_support.h"

namespace keel::tools {

namespace json = boost::json;

json::object schema(std::string_view json_text) { return wire::detail::literal(json_text); }

LeaseOut LeaseOut::of(const state::LeaseInfo& l) {
  return LeaseOut{l.lease_id, l.name,   l.holder,         l.mode,         l.token,
                  l.ttl_ms,   l.acquired_at_ms, l.expires_at_ms, l.units, l.group_id};
}

std::vector<LeaseOut> leases_out(const std::vector<state::LeaseInfo>& leases) {
  return map_to<LeaseOut>(leases, LeaseOut::of);
}

json::object lease_json(const state::LeaseInfo& lease) {
  return wire::encode_object(LeaseOut::of(lease));
}

}  // namespace keel::tools

#include "tools/tool_support.h"

#include <algorithm>
#include <vector>

namespace keel::tools {

namespace json = boost::json;

json::object schema(std::string_view json_text) { return wire::detail::literal(json_text); }

namespace {

void append_canonical(const json::value& v, std::string& out) {
  if (v.is_object()) {
    std::vector<const json::key_value_pair*> members;
    members.reserve(v.get_object().size());
    for (const auto& kv : v.get_object()) members.push_back(&kv);
    std::sort(members.begin(), members.end(),
              [](const auto* a, const auto* b) { return a->key() < b->key(); });
    out += '{';
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i > 0) out += ',';
      out += json::serialize(json::string(members[i]->key()));
      out += ':';
      append_canonical(members[i]->value(), out);
    }
    out += '}';
  } else if (v.is_array()) {
    out += '[';
    const json::array& a = v.get_array();
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (i > 0) out += ',';
      append_canonical(a[i], out);
    }
    out += ']';
  } else {
    out += json::serialize(v);
  }
}

}  // namespace

std::string canonical_json(const json::value& v) {
  std::string out;
  append_canonical(v, out);
  return out;
}

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

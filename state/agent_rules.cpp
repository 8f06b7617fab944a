// keel/state/agent_rules.cpp — see agent_rules.h.
#include "state/agent_rules.h"

#include "state/journal.h"

namespace keel::state::agent_rules {
namespace json = boost::json;

AgentStatus parse_status(std::string_view s) {
  if (s == "suspended") return AgentStatus::kSuspended;
  if (s == "gone") return AgentStatus::kGone;
  return AgentStatus::kActive;
}

void validate_agent_name(std::string_view agent) {
  if (agent.empty() || agent.size() > kMaxAgentNameBytes) {
    throw StoreError(ErrorCode::kInvalidArgument, "an agent name is 1..256 bytes");
  }
}

void validate_suspend_reason(std::string_view reason) {
  if (reason.empty() || reason.size() > kMaxSuspendReasonBytes) {
    throw StoreError(ErrorCode::kInvalidArgument, "a suspension needs a reason (1..1024 bytes)");
  }
}

void throw_no_such_agent(std::string_view agent) {
  throw StoreError(ErrorCode::kNotFound,
                   "no agent named " + std::string(agent) + " in this project (keel agents ls)");
}

void throw_suspended(std::string_view agent, std::string_view reason) {
  throw StoreError(ErrorCode::kPermissionDenied,
                   "agent " + std::string(agent) + " is suspended: " + std::string(reason));
}

void throw_adopt_refusal(AdoptStatus status, std::string_view name_view, std::string_view lease_id,
                         std::string_view to) {
  const std::string name_str(name_view);
  const std::string what =
      lease_id.empty() ? "live lease on " + name_str
                       : "live lease " + std::string(lease_id) + " on " + name_str;
  switch (status) {
    case AdoptStatus::kOk:
      break;
    case AdoptStatus::kNoLease:
      throw StoreError(ErrorCode::kNotFound, "no " + what);
    case AdoptStatus::kAmbiguous:
      throw StoreError(ErrorCode::kInvalidArgument,
                       name_str + " has several live holds: name the lease_id to adopt");
    case AdoptStatus::kNoAgent:
      throw_no_such_agent(to);
    case AdoptStatus::kSuspended:
      throw StoreError(ErrorCode::kPermissionDenied,
                       "agent " + std::string(to) + " is suspended: resume it first");
    case AdoptStatus::kSame:
      throw StoreError(ErrorCode::kInvalidArgument,
                       std::string(to) + " already holds " + name_str);
  }
  throw StoreError(ErrorCode::kInternal, "unreachable");
}

json::object adopt(LeaseInfo& l, std::string_view to, std::int64_t token, std::int64_t now_ms) {
  const std::string from = l.holder;
  l.holder = std::string(to);
  l.token = token;
  l.acquired_at_ms = now_ms;
  l.expires_at_ms = now_ms + l.ttl_ms;
  json::object payload = lease_to_json(l);
  payload["from"] = from;
  return payload;
}

json::array lease_refs(const std::vector<LeaseInfo>& leases) {
  json::array out;
  for (const LeaseInfo& l : leases) {
    out.push_back(json::object{{"lease_id", l.lease_id}, {"name", l.name}, {"token", l.token}});
  }
  return out;
}

json::object heartbeat_payload(const std::vector<LeaseInfo>& renewed) {
  json::array refs;
  for (const LeaseInfo& l : renewed) {
    refs.push_back(json::object{
        {"lease_id", l.lease_id}, {"name", l.name}, {"expires_at", l.expires_at_ms}});
  }
  return json::object{{"leases", std::move(refs)}};
}

json::object start_payload(std::string_view product, std::string_view host, std::int64_t pid,
                           std::string_view session_id, std::string_view client) {
  return json::object{{"product", product},
                      {"host", host},
                      {"pid", pid},
                      {"session_id", session_id},
                      {"client", client}};
}

json::object scavenge_payload(const AgentInfo& row, const std::vector<LeaseInfo>& dropped) {
  return json::object{{"agent", row.name},
                      {"pid", row.pid},
                      {"host", row.host},
                      {"start_time", row.start_time},
                      {"leases", lease_refs(dropped)}};
}

json::object suspend_payload(std::string_view agent, std::string_view reason,
                             const std::vector<LeaseInfo>& released) {
  return json::object{{"agent", agent}, {"reason", reason}, {"released", lease_refs(released)}};
}

}  // namespace keel::state::agent_rules

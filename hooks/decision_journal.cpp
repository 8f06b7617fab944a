// decision_journal.cpp — see decision_journal.h.
#include "hooks/decision_journal.h"

#include <boost/json.hpp>

#include "hooks/engine.h"

namespace keel::hooks {

namespace json = boost::json;

json::object decision_journal_payload(const HookEvent& ev, const HookDecision& d,
                                      const std::vector<PolicyVerdict>& verdicts,
                                      const std::vector<std::string>& errors) {
  json::object payload{{"dialect", ev.dialect},
                       {"event", ev.event_name},
                       {"session_id", ev.session_id},
                       {"outcome", to_string(d.outcome)}};
  if (!ev.agent_id.empty()) payload["agent_id"] = ev.agent_id;
  if (!d.rule_id.empty()) payload["rule"] = d.rule_id;
  if (!d.reason.empty()) payload["reason"] = d.reason.substr(0, 1000);
  if (!d.continue_) payload["continue"] = false;
  if (!d.stop_reason.empty()) payload["stop_reason"] = d.stop_reason.substr(0, 1000);
  if (!d.system_message.empty()) payload["system_message"] = d.system_message.substr(0, 1000);
  if (!ev.tool_name.empty()) payload["tool"] = ev.tool_name;
  if (!ev.command.empty()) payload["command"] = ev.command.substr(0, 1000);
  if (!ev.file_paths.empty()) {
    json::array paths;
    for (const auto& p : ev.file_paths) paths.emplace_back(p);
    payload["paths"] = std::move(paths);
  }
  if (!verdicts.empty()) {
    json::array policies;
    for (const auto& v : verdicts) {
      json::object p{{"policy", v.policy}, {"outcome", to_string(v.decision.outcome)}};
      if (!v.decision.rule_id.empty()) p["rule"] = v.decision.rule_id;
      if (!v.decision.continue_) p["continue"] = false;
      policies.emplace_back(std::move(p));
    }
    payload["policies"] = std::move(policies);
  }
  if (!errors.empty()) {
    json::array list;
    for (const auto& e : errors) list.emplace_back(e.substr(0, 500));
    payload["errors"] = std::move(list);
  }
  return payload;
}

}  // namespace keel::hooks

// keel/notify/notify_config.cpp — the event names of notify_config.h.
#include "notify/notify_config.h"

#include <algorithm>

namespace keel::notify {

const std::vector<EventKind>& event_kinds() {
  static const std::vector<EventKind> kKinds = {
      {"escalation.filed", "ESCALATE"},       {"escalation.refused", "ESCALATE_REFUSED"},
      {"escalation.resolved", "RESOLVE"},     {"lease.refused", "REFUSE"},
      {"lease.expired", "EXPIRE"},            {"lease.freed", "SCAVENGE"},
      {"hook.denied", "HOOK"},                {"hook.asked", "HOOK"},
      {"agent.suspended", "SUSPEND"},         {"agent.resumed", "RESUME"},
      {"fanout.finished", "JOIN"},
  };
  return kKinds;
}

bool is_event_name(std::string_view name) {
  const auto& kinds = event_kinds();
  return std::any_of(kinds.begin(), kinds.end(),
                     [name](const EventKind& k) { return k.name == name; });
}

}  // namespace keel::notify

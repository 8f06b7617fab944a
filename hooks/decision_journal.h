// decision_journal.h — the HOOK journal record of one decided event (engine.h, "journal").
//
// Contract: the payload holds dialect, event, session_id, outcome, and when present agent_id,
// rule, reason, continue, stop_reason, system_message, tool, command, paths, "policies" (every
// policy that said something, with its outcome, rule and continue) and errors; long texts are
// cut (reason, stop_reason, system_message and command at 1000 bytes, each error at 500).
#pragma once

#include <boost/json/object.hpp>

#include <string>
#include <vector>

#include "hooks/hook_event.h"

namespace keel::hooks {

struct PolicyVerdict;

boost::json::object decision_journal_payload(const HookEvent& ev, const HookDecision& d,
                                             const std::vector<PolicyVerdict>& verdicts,
                                             const std::vector<std::string>& errors);

}  // namespace keel::hooks

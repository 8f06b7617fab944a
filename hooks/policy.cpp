// policy.cpp — see policy.h.
#include "hooks/policy.h"

#include <stdexcept>

namespace keel::hooks {

SessionRound& session_of(const PolicyCall& call) {
  if (!call.session) {
    throw std::logic_error(std::string(call.event.event().event_name) +
                           ": a session policy was called outside a session round");
  }
  return *call.session;
}

PolicyInput policy_input(const PolicyCall& call) {
  return PolicyInput(call.event.event(), session_of(call).new_turn);
}

}  // namespace keel::hooks

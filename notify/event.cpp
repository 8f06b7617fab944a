// keel/notify/event.cpp — journal records to event names (event.h).
#include "notify/event.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace keel::notify {

namespace {

std::string_view hook_event(const std::string& payload) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(payload, ec);
  if (ec || !v.is_object()) return {};
  const auto* outcome = v.as_object().if_contains("outcome");
  if (outcome == nullptr || !outcome->is_string()) return {};
  const std::string_view o = outcome->as_string();
  if (o == "deny" || o == "block-stop") return "hook.denied";
  if (o == "ask") return "hook.asked";
  return {};
}

bool notifier_bookkeeping(const state::JournalRecord& r) {
  return r.op == kNotifyOp || (r.principal.rfind(kNotifierAgent, 0) == 0 &&
                               r.subject.rfind("notify:", 0) == 0);
}

}  // namespace

std::string_view event_for(const state::JournalRecord& r) {
  if (notifier_bookkeeping(r)) return {};
  if (r.op == "HOOK") return hook_event(r.payload);
  for (const EventKind& k : event_kinds()) {
    if (k.op == r.op) return k.name;
  }
  return {};
}

bool target_wants(const NotifyTarget& target, std::string_view event) {
  if (event.empty()) return false;
  return target.events.count("*") != 0 || target.events.count(std::string(event)) != 0;
}

}  // namespace keel::notify

// keel/notify/event.h — which notification event a journal record is (notify_config.h's
// event_kinds()), and whether a target wants it.
//
// Pure functions of their arguments: thread-safe.
#pragma once

#include <string_view>

#include "notify/notify_config.h"
#include "state/journal_types.h"

namespace keel::notify {

// The journal op of the notifier's own delivery records. Never an event.
inline constexpr std::string_view kNotifyOp = "NOTIFY";
// The notifier's principals are "keel-notifier" followed by ".<node>.<pid>"; its lease
// records (subject "notify:<target>") are never events.
inline constexpr std::string_view kNotifierAgent = "keel-notifier";

// The event name `r` stands for, or "" when it is none: an op no event comes from, a HOOK
// that neither denied nor asked, a NOTIFY record, or the notifier's own lease bookkeeping.
// A HOOK whose payload outcome is "deny" or "block-stop" is hook.denied; "ask" is hook.asked.
std::string_view event_for(const state::JournalRecord& r);

// True when `target` asked for `event` (by name, or "*").
bool target_wants(const NotifyTarget& target, std::string_view event);

}  // namespace keel::notify

// keel/notify/notify_config.h — config `notify`: where keel's events go (webhooks), and which.
//
// Events are derived from the journal (notify/README.md), so every keel process of the
// project, and every hook, produces them; a target names the events it wants by name.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace keel::notify {

enum class Format { kJson, kSlack };

struct NotifyTarget {
  std::string name;    // config key; names the target in NOTIFY records and metrics
  std::string url;     // http:// or https://; the only host this target contacts
  std::set<std::string> events;  // known event names (kEvents), or "*" for all
  Format format = Format::kJson;
  std::string secret;  // json: required (≥ 16 bytes), signs X-Keel-Signature
};

struct NotifyConfig {
  std::vector<NotifyTarget> targets;  // empty: no notifier runs
  // A delivery that keeps failing is retried (jittered exponential backoff) for this
  // long after its event, then given up (journaled NOTIFY with outcome "failed").
  std::int64_t retry_for_ms = 3'600'000;
  std::int64_t timeout_ms = 5'000;  // one HTTP attempt, connect to last byte
  std::string console_url;          // Slack messages link here; "" : no link
};

// The events a target may ask for: {name, the journal op it comes from}. A HOOK record
// becomes hook.denied or hook.asked by its payload's outcome.
struct EventKind {
  std::string_view name;
  std::string_view op;
};
const std::vector<EventKind>& event_kinds();
bool is_event_name(std::string_view name);

}  // namespace keel::notify

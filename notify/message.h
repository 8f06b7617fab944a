// keel/notify/message.h — what a target receives for one event: the body in the target's
// format (json: keel's event; slack: an incoming-webhook message), the X-Keel-* headers
// and the signature (notify/README.md shows how a receiver checks it).
//
// Pure functions of their arguments: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "net/http_client.h"
#include "notify/notify_config.h"
#include "state/journal_types.h"

namespace keel::notify {

// "sha256=" + hex HMAC-SHA256(secret, "<unix_seconds>.<body>"): X-Keel-Signature.
std::string signature(std::string_view secret, std::int64_t unix_seconds, std::string_view body);

// Slack's mrkdwn escaping: & < > become &amp; &lt; &gt; (so agent-written text cannot
// make links or mentions). Other text passes unchanged.
std::string slack_escape(std::string_view text);

// format json: {"id": seq, "event", "ts_ms", "project", "agent", "subject", "payload":
// the record's payload as JSON (as a string if it is not JSON), "console_url"?}.
std::string json_body(const state::JournalRecord& r, std::string_view event,
                      std::string_view console_url);

// format slack: one short human line for the event (agent text escaped and cut at 300
// bytes), with a link to the console when `console_url` is set.
std::string slack_line(const state::JournalRecord& r, std::string_view event,
                       std::string_view console_url);
// {"text": slack_line(...)}.
std::string slack_body(const state::JournalRecord& r, std::string_view event,
                       std::string_view console_url);

// The POST to `target` for record `r` (event `event`) sent at `unix_seconds`: the body in
// the target's format, headers X-Keel-Event, X-Keel-Delivery (the seq), X-Keel-Timestamp
// and, when the target has a secret, X-Keel-Signature; timeout from `config`.
net::HttpClientRequest delivery_request(const NotifyTarget& target, const NotifyConfig& config,
                                        const state::JournalRecord& r, std::string_view event,
                                        std::int64_t unix_seconds);

}  // namespace keel::notify

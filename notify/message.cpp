// keel/notify/message.cpp — bodies, headers and signatures of deliveries (message.h).
#include "notify/message.h"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "crypto/hmac.h"

namespace keel::notify {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxAgentText = 300;

json::value payload_of(const state::JournalRecord& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.payload, ec);
  if (ec) return json::value(r.payload);
  return v;
}

// The payload's string field `key`, or "".
std::string field(const json::value& payload, std::string_view key) {
  if (!payload.is_object()) return {};
  const auto* v = payload.as_object().if_contains(key);
  if (v == nullptr) return {};
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_int64() || v->is_uint64()) return json::serialize(*v);
  return {};
}

// Agent-written text for Slack: cut (on a UTF-8 boundary) then escaped.
std::string agent_text(std::string_view s) {
  if (s.size() > kMaxAgentText) {
    std::size_t n = kMaxAgentText;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return slack_escape(s.substr(0, n)) + "…";
  }
  return slack_escape(s);
}

// The part of the subject after "<prefix>:" ("escalation:12" → "12").
std::string subject_tail(const std::string& subject) {
  const auto colon = subject.find(':');
  return colon == std::string::npos ? subject : subject.substr(colon + 1);
}

// A URL inside Slack's <url|label>: the characters that would end it are percent-encoded.
std::string link_url(std::string_view url) {
  std::string out;
  for (char c : url) {
    switch (c) {
      case '<': out += "%3C"; break;
      case '>': out += "%3E"; break;
      case '|': out += "%7C"; break;
      case ' ': out += "%20"; break;
      default: out += c;
    }
  }
  return out;
}

std::string with_reason(std::string line, const std::string& reason) {
  if (!reason.empty()) line += ": " + agent_text(reason);
  return line;
}

}  // namespace

std::string signature(std::string_view secret, std::int64_t unix_seconds, std::string_view body) {
  std::string message = std::to_string(unix_seconds);
  message += '.';
  message += body;
  return "sha256=" + crypto::hmac_sha256_hex(secret, message);
}

std::string slack_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string json_body(const state::JournalRecord& r, std::string_view event,
                      std::string_view console_url) {
  json::object o{{"id", r.seq},
                 {"event", event},
                 {"ts_ms", r.ts_ms},
                 {"project", r.project},
                 {"agent", r.principal},
                 {"subject", r.subject},
                 {"payload", payload_of(r)}};
  if (!console_url.empty()) o["console_url"] = console_url;
  return json::serialize(o);
}

std::string slack_line(const state::JournalRecord& r, std::string_view event,
                       std::string_view console_url) {
  const json::value p = payload_of(r);
  const std::string who = agent_text(r.principal);
  const std::string subject = agent_text(r.subject);
  std::string line;
  if (event == "escalation.filed") {
    line = with_reason(":rotating_light: escalation #" + agent_text(subject_tail(r.subject)) +
                           " from " + who,
                       field(p, "reason"));
  } else if (event == "escalation.refused") {
    line = ":no_entry: an escalation from " + who + " was refused (budget exhausted)";
  } else if (event == "escalation.resolved") {
    const std::string decision = field(p, "decision");
    line = ":white_check_mark: escalation #" + agent_text(subject_tail(r.subject)) + " resolved" +
           (decision.empty() ? "" : ": " + agent_text(decision)) + " by " + who;
  } else if (event == "lease.refused") {
    line = with_reason(":lock: " + who + " was refused " + subject, field(p, "reason"));
  } else if (event == "lease.expired") {
    line = ":hourglass: the lease of " + who + " on " + subject + " expired";
  } else if (event == "lease.freed") {
    line = ":broom: the holds of " + subject + " were freed (its process is gone)";
  } else if (event == "hook.denied") {
    line = with_reason(":octagonal_sign: a hook denied " + subject + " to " + who,
                       field(p, "reason"));
  } else if (event == "hook.asked") {
    line = with_reason(":raising_hand: a hook asks before " + subject + " by " + who,
                       field(p, "reason"));
  } else if (event == "agent.suspended") {
    line = ":double_vertical_bar: agent " + subject + " suspended by " + who;
  } else if (event == "agent.resumed") {
    line = ":arrow_forward: agent " + subject + " resumed by " + who;
  } else if (event == "fanout.finished") {
    line = ":checkered_flag: fanout " + subject + " finished";
  } else {
    line = agent_text(std::string(event)) + " " + subject + " (" + who + ")";
  }
  if (!console_url.empty()) line += " <" + link_url(console_url) + "|open the console>";
  return line;
}

std::string slack_body(const state::JournalRecord& r, std::string_view event,
                       std::string_view console_url) {
  return json::serialize(json::object{{"text", slack_line(r, event, console_url)}});
}

net::HttpClientRequest delivery_request(const NotifyTarget& target, const NotifyConfig& config,
                                        const state::JournalRecord& r, std::string_view event,
                                        std::int64_t unix_seconds) {
  net::HttpClientRequest req;
  req.method = "POST";
  req.url = target.url;
  req.timeout = std::chrono::milliseconds(config.timeout_ms);
  req.body = target.format == Format::kSlack ? slack_body(r, event, config.console_url)
                                             : json_body(r, event, config.console_url);
  const std::string ts = std::to_string(unix_seconds);
  req.headers = {{"X-Keel-Event", std::string(event)},
                 {"X-Keel-Delivery", std::to_string(r.seq)},
                 {"X-Keel-Timestamp", ts}};
  if (!target.secret.empty()) {
    req.headers.emplace_back("X-Keel-Signature", signature(target.secret, unix_seconds, req.body));
  }
  return req;
}

}  // namespace keel::notify

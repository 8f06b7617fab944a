// tests/unit/notify_message_test.cpp — what a target receives: event names from journal
// records, json and slack bodies, Slack escaping, the signature (a known HMAC-SHA256
// vector), the request's headers; and the backoff's bounds.
#include <set>
#include <string>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "crypto/hmac.h"
#include "notify/backoff.h"
#include "notify/event.h"
#include "notify/message.h"

namespace {

namespace json = boost::json;
using keel::state::JournalRecord;
using namespace keel::notify;

JournalRecord record(std::string op, std::string subject, std::string payload,
                     std::string principal = "agent-a") {
  JournalRecord r;
  r.seq = 12;
  r.ts_ms = 1'700'000'000'123;
  r.project = "/proj";
  r.principal = std::move(principal);
  r.op = std::move(op);
  r.subject = std::move(subject);
  r.payload = std::move(payload);
  return r;
}

}  // namespace

TEST_CASE("event_for: each event's op, HOOK by outcome, and what is no event") {
  CHECK(event_for(record("ESCALATE", "escalation:1", "{}")) == "escalation.filed");
  CHECK(event_for(record("ESCALATE_REFUSED", "escalation:refused", "{}")) == "escalation.refused");
  CHECK(event_for(record("RESOLVE", "escalation:1", "{}")) == "escalation.resolved");
  CHECK(event_for(record("REFUSE", "file:/a", "{}")) == "lease.refused");
  CHECK(event_for(record("EXPIRE", "file:/a", "{}")) == "lease.expired");
  CHECK(event_for(record("SCAVENGE", "agent:x", "{}")) == "lease.freed");
  CHECK(event_for(record("SUSPEND", "agent:x", "{}")) == "agent.suspended");
  CHECK(event_for(record("RESUME", "agent:x", "{}")) == "agent.resumed");
  CHECK(event_for(record("JOIN", "fanout:f", "{}")) == "fanout.finished");
  CHECK(event_for(record("HOOK", "Bash", R"({"outcome":"deny"})")) == "hook.denied");
  CHECK(event_for(record("HOOK", "Stop", R"({"outcome":"block-stop"})")) == "hook.denied");
  CHECK(event_for(record("HOOK", "Bash", R"({"outcome":"ask"})")) == "hook.asked");
  CHECK(event_for(record("HOOK", "Bash", R"({"outcome":"allow"})")).empty());
  CHECK(event_for(record("HOOK", "Bash", R"({"outcome":3})")).empty());
  CHECK(event_for(record("HOOK", "Bash", "not json")).empty());
  CHECK(event_for(record("ACQUIRE", "file:/a", "{}")).empty());
  CHECK(event_for(record("NOTIFY", "notify:ops", R"({"outcome":"delivered"})")).empty());
  // The notifier's own lease bookkeeping is not an event; the same op by an agent is.
  CHECK(event_for(record("REFUSE", "notify:ops", "{}", "keel-notifier.n1.42")).empty());
  CHECK(event_for(record("EXPIRE", "notify:ops", "{}", "keel-notifier.n1.42")).empty());
  CHECK(event_for(record("REFUSE", "notify:ops", "{}", "agent-a")) == "lease.refused");
  // Every configured event name comes from an op.
  for (const auto& k : event_kinds()) CHECK(is_event_name(k.name));
  CHECK_FALSE(is_event_name("escalation"));
}

TEST_CASE("target_wants: by name or '*', never the empty event") {
  NotifyTarget t;
  t.events = {"escalation.filed", "hook.denied"};
  CHECK(target_wants(t, "escalation.filed"));
  CHECK_FALSE(target_wants(t, "lease.expired"));
  CHECK_FALSE(target_wants(t, ""));
  t.events = {"*"};
  CHECK(target_wants(t, "lease.expired"));
  CHECK_FALSE(target_wants(t, ""));
}

TEST_CASE("signature: HMAC-SHA256 over '<timestamp>.<body>', hex") {
  // RFC 4231 test case 2 pins the primitive.
  CHECK(keel::crypto::hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Python: hmac.new(b'whsec-0123456789abcdef', b'1700000000.{"id":7}', sha256).hexdigest()
  CHECK(signature("whsec-0123456789abcdef", 1'700'000'000, R"({"id":7})") ==
        "sha256=10e863eb9d086b1f4034d4e25ed188fdfffeb462da1ed2a2d73ac7469f9ac39b");
  CHECK(signature("whsec-0123456789abcdef", 1'700'000'001, R"({"id":7})") !=
        signature("whsec-0123456789abcdef", 1'700'000'000, R"({"id":7})"));
}

TEST_CASE("json_body: keel's event with the record's payload as JSON") {
  const auto r = record("ESCALATE", "escalation:3", R"({"reason":"deploy?","impact":"low"})");
  const json::value v = json::parse(json_body(r, "escalation.filed", "https://c.example/"));
  CHECK(v.at("id").as_int64() == 12);
  CHECK(v.at("event").as_string() == "escalation.filed");
  CHECK(v.at("ts_ms").as_int64() == 1'700'000'000'123);
  CHECK(v.at("project").as_string() == "/proj");
  CHECK(v.at("agent").as_string() == "agent-a");
  CHECK(v.at("subject").as_string() == "escalation:3");
  CHECK(v.at("payload").at("reason").as_string() == "deploy?");
  CHECK(v.at("console_url").as_string() == "https://c.example/");
  // No console: no key. A payload that is not JSON travels as a string.
  const json::value w = json::parse(json_body(record("JOIN", "fanout:f", "oops"), "fanout.finished", ""));
  CHECK(w.as_object().if_contains("console_url") == nullptr);
  CHECK(w.at("payload").as_string() == "oops");
}

TEST_CASE("slack: & < > escaped in agent text, a console link, long text cut") {
  CHECK(slack_escape("a <@U123> & <!channel> > b") ==
        "a &lt;@U123&gt; &amp; &lt;!channel&gt; &gt; b");
  const auto r = record("ESCALATE", "escalation:12", R"({"reason":"push <!here> & go?"})",
                        "agent-<a>");
  CHECK(slack_line(r, "escalation.filed", "") ==
        ":rotating_light: escalation #12 from agent-&lt;a&gt;: push &lt;!here&gt; &amp; go?");
  CHECK(slack_line(r, "escalation.filed", "https://c.example/x?a=1|b") ==
        ":rotating_light: escalation #12 from agent-&lt;a&gt;: push &lt;!here&gt; &amp; go?"
        " <https://c.example/x?a=1%7Cb|open the console>");
  const auto hook = record("HOOK", "Bash", R"({"outcome":"deny","reason":")" + std::string(1000, 'x') + "\"}");
  const std::string line = slack_line(hook, "hook.denied", "");
  CHECK(line.rfind(":octagonal_sign: a hook denied Bash to agent-a: xxx", 0) == 0);
  CHECK(line.size() < 400);
  const json::value body = json::parse(slack_body(r, "escalation.filed", ""));
  CHECK(body.at("text").as_string() == slack_line(r, "escalation.filed", ""));
  // Every event has a line of its own.
  std::set<std::string> lines;
  for (const auto& k : event_kinds()) lines.insert(slack_line(r, k.name, ""));
  CHECK(lines.size() == event_kinds().size());
}

TEST_CASE("delivery_request: body by format, X-Keel-* headers, signature when a secret is set") {
  NotifyConfig config;
  config.timeout_ms = 1234;
  NotifyTarget t;
  t.name = "ops";
  t.url = "https://hooks.example.com/k";
  t.secret = "0123456789abcdef-secret";
  const auto r = record("ESCALATE", "escalation:3", R"({"reason":"r"})");
  auto req = delivery_request(t, config, r, "escalation.filed", 1'700'000'000);
  CHECK(req.method == "POST");
  CHECK(req.url == t.url);
  CHECK(req.timeout == std::chrono::milliseconds(1234));
  CHECK(req.body == json_body(r, "escalation.filed", ""));
  auto header = [&](const std::string& k) {
    for (const auto& [name, v] : req.headers) {
      if (name == k) return v;
    }
    return std::string("<none>");
  };
  CHECK(header("X-Keel-Event") == "escalation.filed");
  CHECK(header("X-Keel-Delivery") == "12");
  CHECK(header("X-Keel-Timestamp") == "1700000000");
  CHECK(header("X-Keel-Signature") == signature(t.secret, 1'700'000'000, req.body));

  t.format = Format::kSlack;
  t.secret.clear();
  req = delivery_request(t, config, r, "escalation.filed", 1'700'000'000);
  CHECK(req.body == slack_body(r, "escalation.filed", ""));
  CHECK(header("X-Keel-Signature") == "<none>");
}

TEST_CASE("backoff_delay: 250 ms doubling to 30 s, jitter within ±50 %") {
  using std::chrono::milliseconds;
  CHECK(backoff_delay(1, 0.5) == milliseconds(250));
  CHECK(backoff_delay(2, 0.5) == milliseconds(500));
  CHECK(backoff_delay(3, 0.5) == milliseconds(1000));
  CHECK(backoff_delay(8, 0.5) == milliseconds(30'000));  // 32 s capped
  CHECK(backoff_delay(1'000'000, 0.5) == milliseconds(30'000));
  CHECK(backoff_delay(0, 0.5) == milliseconds(250));
  CHECK(backoff_delay(1, 0.0) == milliseconds(125));
  CHECK(backoff_delay(1, 7.0) < milliseconds(375));
  CHECK(backoff_delay(1, -1.0) == milliseconds(125));
  for (int attempt = 1; attempt < 40; ++attempt) {
    for (int i = 0; i < 50; ++i) {
      const double u = backoff_random();
      REQUIRE(u >= 0.0);
      REQUIRE(u < 1.0);
      const auto d = backoff_delay(attempt, u);
      REQUIRE(d >= milliseconds(125));
      REQUIRE(d < milliseconds(45'000));
    }
  }
}

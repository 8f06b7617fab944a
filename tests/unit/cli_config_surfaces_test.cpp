// keel.jsonc sections of the people around the fleet: http.console, http.metrics, notify and
// telemetry — read into their typed structs, every mistake named by its key.
#include <catch2/catch.hpp>

#include "cli/config.h"

using keel::cli::Config;
using keel::cli::parse_config;

namespace {
std::string message_of(std::string_view text) {
  try {
    parse_config(text, "cfg");
  } catch (const keel::cli::ConfigError& e) {
    return std::string(e.what());
  }
  return std::string("no error");
}
}  // namespace

TEST_CASE("config notify: targets by name, in order, with events, format and secret") {
  Config c = parse_config(R"({"notify": {"retry_for_ms": 60000, "timeout_ms": 800,
      "console_url": "https://keel.example/",
      "targets": {
        "ops": {"url": "https://hooks.slack.com/services/T/B/X", "format": "slack",
                "events": ["escalation.filed", "hook.denied"]},
        "audit": {"url": "http://127.0.0.1:9000/keel", "events": ["*"],
                  "secret": "0123456789abcdef"}}}})", "cfg");
  REQUIRE(c.notify.targets.size() == 2);
  CHECK(c.notify.targets[0].name == "ops");
  CHECK(c.notify.targets[0].format == keel::notify::Format::kSlack);
  CHECK(c.notify.targets[0].events == std::set<std::string>{"escalation.filed", "hook.denied"});
  CHECK(c.notify.targets[0].secret.empty());
  CHECK(c.notify.targets[1].name == "audit");
  CHECK(c.notify.targets[1].format == keel::notify::Format::kJson);
  CHECK(c.notify.targets[1].events == std::set<std::string>{"*"});
  CHECK(c.notify.targets[1].secret == "0123456789abcdef");
  CHECK(c.notify.retry_for_ms == 60000);
  CHECK(c.notify.timeout_ms == 800);
  CHECK(c.notify.console_url == "https://keel.example/");
}

TEST_CASE("config notify: mistakes name their key") {
  CHECK(message_of(R"({"notify": {"targets": {"a": {"url": "ftp://x/", "events": ["*"]}}}})") ==
        "cfg: notify.targets.a.url: the scheme must be http or https, not ftp");
  CHECK(message_of(R"({"notify": {"targets": {"a": {"url": "http://127.0.0.1:9/", "events": ["nope"],
        "format": "slack"}}}})")
            .find("cfg: notify.targets.a.events: unknown event 'nope' (known: escalation.filed") == 0);
  CHECK(message_of(R"({"notify": {"targets": {"a": {"url": "http://127.0.0.1:9/", "events": []}}}})") ==
        "cfg: notify.targets.a.events: must be a non-empty array of event names (or [\"*\"])");
  CHECK(message_of(R"({"notify": {"targets": {"a": {"url": "http://127.0.0.1:9/", "events": ["*"]}}}})") ==
        "cfg: notify.targets.a.secret: is required for format \"json\" (it signs X-Keel-Signature)");
  CHECK(message_of(R"({"notify": {"targets": {"a": {"url": "http://127.0.0.1:9/", "events": ["*"],
        "secret": "short"}}}})") == "cfg: notify.targets.a.secret: must be at least 16 characters");
  CHECK(message_of(R"({"notify": {"targets": {"a": {"events": ["*"], "format": "slack"}}}})") ==
        "cfg: notify.targets.a.url: is required");
  CHECK(message_of(R"({"notify": {"targets": {"a b": {"url": "http://x/", "events": ["*"],
        "format": "slack"}}}})") ==
        "cfg: notify.targets.a b: a target name uses letters, digits, '.', '_' and '-' (at most 64)");
  CHECK(message_of(R"({"notify": {"targets": {"a": {"url": "http://x/", "events": ["*"],
        "format": "xml"}}}})") == "cfg: notify.targets.a.format: must be \"json\" or \"slack\"");
  CHECK(message_of(R"({"notify": {"targets": {"a": {"url": "http://x/", "events": ["*"],
        "format": "slack", "retries": 3}}}})") == "cfg: notify.targets.a.retries: unknown key");
  CHECK(message_of(R"({"notify": {"console_url": "keel.example"}})") ==
        "cfg: notify.console_url: must start with http:// or https://");
}

TEST_CASE("config telemetry, http.console and http.metrics") {
  Config c = parse_config(R"({"telemetry": {"otlp_endpoint": "http://127.0.0.1:4318/v1/traces",
      "otlp_headers": {"x-team": "a"}, "service_name": "keel-ci", "max_queue": 10, "max_batch": 5,
      "flush_ms": 100, "timeout_ms": 300},
      "http": {"console": {"enabled": false, "public_url": "https://keel.example/"}, "metrics": false}})",
                          "cfg");
  CHECK(c.telemetry.otlp_endpoint == "http://127.0.0.1:4318/v1/traces");
  CHECK(c.telemetry.otlp_headers.at("x-team") == "a");
  CHECK(c.telemetry.service_name == "keel-ci");
  CHECK(c.telemetry.max_queue == 10);
  CHECK(c.telemetry.max_batch == 5);
  CHECK(c.telemetry.flush_ms == 100);
  CHECK(c.telemetry.timeout_ms == 300);
  CHECK_FALSE(c.console.enabled);
  CHECK(c.console.public_url == "https://keel.example/");
  CHECK_FALSE(c.http_metrics);

  CHECK(message_of(R"({"telemetry": {"otlp_endpoint": "127.0.0.1:4318"}})") ==
        "cfg: telemetry.otlp_endpoint: not an absolute URL (no scheme)");
  CHECK(message_of(R"({"telemetry": {"max_queue": 0}})") ==
        "cfg: telemetry.max_queue: must be between 1 and 1000000");
  CHECK(message_of(R"({"telemetry": {"otlp_headers": {"a": 1}}})") ==
        "cfg: telemetry.otlp_headers.a: must be a string");
  CHECK(message_of(R"({"http": {"console": {"enabled": "yes"}}})") ==
        "cfg: http.console.enabled: must be true or false");
  CHECK(message_of(R"({"http": {"console": {"public_url": "keel.example"}}})") ==
        "cfg: http.console.public_url: must start with http:// or https://");
  CHECK(message_of(R"({"http": {"metrics": 1}})") == "cfg: http.metrics: must be true or false");
}

// keel.jsonc "requests": how long a request_id is replayed and when an
// unfinished claim counts as dead (tools/tool_idempotency.h).
#include <catch2/catch.hpp>

#include "cli/config.h"

using keel::cli::Config;
using keel::cli::load_config_file;
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

TEST_CASE("config requests: the shipped file states the defaults (24h, 5m)") {
  const Config shipped = load_config_file(std::string(KEEL_SOURCE_DIR) + "/configs/keel.jsonc");
  const Config builtin;
  CHECK(shipped.store.request_retention_ms == builtin.store.request_retention_ms);
  CHECK(shipped.store.request_claim_stale_ms == builtin.store.request_claim_stale_ms);
  CHECK(builtin.store.request_retention_ms == 24LL * 3'600'000);
  CHECK(builtin.store.request_claim_stale_ms == 5LL * 60'000);
}

TEST_CASE("config requests: durations or ms; errors name the key") {
  const Config c =
      parse_config(R"({"requests": {"retention": "7d", "claim_stale": "90s"}})", "cfg");
  CHECK(c.store.request_retention_ms == 7LL * 86'400'000);
  CHECK(c.store.request_claim_stale_ms == 90'000);
  CHECK(parse_config(R"({"requests": {"retention": 3600000, "claim_stale": 60000}})", "cfg")
            .store.request_claim_stale_ms == 60'000);

  CHECK_THAT(message_of(R"({"requests": {"retention": "soon"}})"),
             Catch::Contains("requests.retention"));
  CHECK_THAT(message_of(R"({"requests": {"retention": 10}})"),
             Catch::Contains("requests.retention"));
  CHECK_THAT(message_of(R"({"requests": {"claim_stale": "0s"}})"),
             Catch::Contains("requests.claim_stale"));
  CHECK_THAT(message_of(R"({"requests": {"claim_stale": true}})"),
             Catch::Contains("requests.claim_stale"));
  CHECK_THAT(message_of(R"({"requests": {"keep": "1h"}})"), Catch::Contains("keep"));
  // A claim must go stale before the retention drops it.
  CHECK_THAT(message_of(R"({"requests": {"retention": "1h", "claim_stale": "2h"}})"),
             Catch::Contains("requests.claim_stale must not exceed requests.retention"));
}

TEST_CASE("config memory waits: max_wait_ms and poll_ms reach the store; errors name the key") {
  const Config c = parse_config(R"({"memory": {"max_wait_ms": 5000, "poll_ms": 20}})", "cfg");
  CHECK(c.store.memory_max_wait_ms == 5000);
  CHECK(c.store.memory_poll_ms == 20);
  CHECK_THAT(message_of(R"({"memory": {"poll_ms": 0}})"), Catch::Contains("memory.poll_ms"));
  CHECK_THAT(message_of(R"({"memory": {"max_wait_ms": -1}})"),
             Catch::Contains("memory.max_wait_ms"));
}

// keel.jsonc: the shipped file states the defaults; mistakes name their key.
#include <catch2/catch.hpp>

#include "cli/config.h"
#include "hooks/hooks_config.h"
#include "state/journal_retention.h"

using keel::cli::Config;
using keel::cli::ConfigError;
using keel::cli::load_config_file;
using keel::cli::parse_config;

namespace {
// The error parse_config reports for `text`, or "no error".
std::string message_of(std::string_view text) {
  try {
    keel::cli::parse_config(text, "cfg");
  } catch (const keel::cli::ConfigError& e) {
    return std::string(e.what());
  }
  return std::string("no error");
}
}  // namespace

TEST_CASE("the shipped configs/keel.jsonc equals the built-in defaults") {
  Config shipped = load_config_file(std::string(KEEL_SOURCE_DIR) + "/configs/keel.jsonc");
  Config builtin;
  REQUIRE(shipped.state_dir.has_value());
  CHECK(*shipped.state_dir == ".keel");
  CHECK(shipped.store.synchronous == builtin.store.synchronous);
  CHECK(shipped.store.busy_timeout_ms == builtin.store.busy_timeout_ms);
  CHECK(shipped.store.max_batch == builtin.store.max_batch);
  CHECK(shipped.store.url.empty());  // SQLite unless a URL is configured
  CHECK(shipped.store.pg_call_timeout_ms == builtin.store.pg_call_timeout_ms);
  CHECK(shipped.store.pg_pool_size == builtin.store.pg_pool_size);
  CHECK(shipped.store.node.empty());  // the host name, chosen at run time
  CHECK(shipped.project_id.empty());  // the project directory
  CHECK(shipped.lease_default_ttl_ms == builtin.lease_default_ttl_ms);
  CHECK(shipped.store.lease_max_ttl_ms == builtin.store.lease_max_ttl_ms);
  CHECK(shipped.store.lease_max_wait_ms == builtin.store.lease_max_wait_ms);
  CHECK(shipped.store.memory_max_value_bytes == builtin.store.memory_max_value_bytes);
  CHECK(shipped.store.memory_max_key_bytes == builtin.store.memory_max_key_bytes);
  CHECK(shipped.store.memory_page_size == builtin.store.memory_page_size);
  CHECK(shipped.store.memory_max_page_size == builtin.store.memory_max_page_size);
  CHECK(shipped.store.memory_orphan_session_ttl_ms == builtin.store.memory_orphan_session_ttl_ms);
  CHECK(shipped.store.memory_max_wait_ms == builtin.store.memory_max_wait_ms);
  CHECK(shipped.store.memory_poll_ms == builtin.store.memory_poll_ms);
  CHECK(shipped.store.fanout_cache_max_entries == builtin.store.fanout_cache_max_entries);
  CHECK(shipped.server.max_message_bytes == builtin.server.max_message_bytes);
  CHECK(shipped.server.tools_page_size == builtin.server.tools_page_size);
  CHECK(shipped.stdio_workers == builtin.stdio_workers);
  CHECK(shipped.server.instructions == builtin.server.instructions);
  CHECK(shipped.default_capabilities == builtin.default_capabilities);
  CHECK(shipped.agent_capabilities.empty());
  CHECK(shipped.log_level == builtin.log_level);
  CHECK(shipped.http_principals.empty());
  CHECK(shipped.http_header_timeout_ms == builtin.http_header_timeout_ms);
  CHECK(shipped.http_idle_timeout_ms == builtin.http_idle_timeout_ms);
  CHECK(shipped.http_threads == builtin.http_threads);
  CHECK(shipped.store.escalation_budget == builtin.store.escalation_budget);
  CHECK(shipped.store.escalation_max_wait_ms == builtin.store.escalation_max_wait_ms);
  CHECK(shipped.store.escalation_agent_budgets.empty());
  const keel::tools::FanoutLimits& f = shipped.fanout;
  const keel::tools::FanoutLimits& d = builtin.fanout;
  CHECK(f.max_branches == d.max_branches);
  CHECK(f.max_concurrency == d.max_concurrency);
  CHECK(f.default_concurrency == d.default_concurrency);
  CHECK(f.default_branch_timeout_ms == d.default_branch_timeout_ms);
  CHECK(f.max_branch_timeout_ms == d.max_branch_timeout_ms);
  CHECK(f.max_wall_ms == d.max_wall_ms);
  CHECK(f.max_results == d.max_results);
  CHECK(f.max_output_bytes == d.max_output_bytes);
  CHECK(f.kill_grace_ms == d.kill_grace_ms);
  CHECK(f.max_attempts == d.max_attempts);
  CHECK(f.recent_runs == d.recent_runs);
  CHECK(shipped.console.enabled == builtin.console.enabled);
  CHECK(shipped.console.public_url == builtin.console.public_url);
  CHECK(shipped.http_metrics == builtin.http_metrics);
  CHECK(shipped.notify.targets.empty());
  CHECK(shipped.notify.retry_for_ms == builtin.notify.retry_for_ms);
  CHECK(shipped.notify.timeout_ms == builtin.notify.timeout_ms);
  CHECK(shipped.notify.console_url == builtin.notify.console_url);
  const keel::observe::TelemetryConfig& t = shipped.telemetry;
  const keel::observe::TelemetryConfig& u = builtin.telemetry;
  CHECK(t.otlp_endpoint == u.otlp_endpoint);
  CHECK(t.otlp_headers.empty());
  CHECK(t.service_name == u.service_name);
  CHECK(t.max_queue == u.max_queue);
  CHECK(t.max_batch == u.max_batch);
  CHECK(t.flush_ms == u.flush_ms);
  CHECK(t.timeout_ms == u.timeout_ms);
  const keel::state::RetentionOptions& r = shipped.journal_retention;
  const keel::state::RetentionOptions& q = builtin.journal_retention;
  CHECK_FALSE(r.enabled());  // off unless a limit is configured
  CHECK(r.export_dir == q.export_dir);
  CHECK(r.compress == q.compress);
  CHECK(r.interval_ms == q.interval_ms);
  CHECK(r.batch_records == q.batch_records);
}

TEST_CASE("config journal.retention: limits, durations, the export_dir rule, errors naming the key") {
  const Config c = parse_config(
      R"({"journal": {"retention": {"max_age": "12h", "max_records": 5000,
          "export_dir": "archive", "compress": false, "interval_ms": 5000, "batch_records": 100}}})",
      "cfg");
  const keel::state::RetentionOptions& r = c.journal_retention;
  CHECK(r.enabled());
  CHECK(r.max_age_ms == 12LL * 3'600'000);
  CHECK(r.max_records == 5000);
  CHECK(r.export_dir == "archive");
  CHECK_FALSE(r.compress);
  CHECK(r.interval_ms == 5000);
  CHECK(r.batch_records == 100);
  CHECK(parse_config(R"({"journal": {"retention": {"max_age": 90000, "export_dir": ""}}})", "cfg")
            .journal_retention.max_age_ms == 90000);
  CHECK(parse_config(R"({"journal": {"retention": {"max_age": "7d", "export_dir": ""}}})", "cfg")
            .journal_retention.max_age_ms == 7LL * 86'400'000);
  // A limit without export_dir would throw records away unasked.
  CHECK_THAT(message_of(R"({"journal": {"retention": {"max_records": 10}}})"),
             Catch::Contains("journal.retention.export_dir") && Catch::Contains("required"));
  CHECK_THAT(message_of(R"({"journal": {"retention": {"export_dir": "a"}}})"),
             Catch::Contains("journal.retention"));
  CHECK_THAT(message_of(R"({"journal": {"retention": {"max_age": "soon", "export_dir": ""}}})"),
             Catch::Contains("max_age"));
  CHECK_THAT(message_of(R"({"journal": {"retention": {"max_age": 10, "export_dir": ""}}})"),
             Catch::Contains("max_age"));
  CHECK_THAT(message_of(R"({"journal": {"retention": {"max_records": 0, "export_dir": ""}}})"),
             Catch::Contains("max_records"));
  CHECK_THAT(message_of(R"({"journal": {"retention": {"max_records": 9, "export_dir": "", "compress": 1}}})"),
             Catch::Contains("compress"));
  CHECK_THAT(message_of(R"({"journal": {"retention": {"max_records": 9, "export_dir": "", "batch_records": 1}}})"),
             Catch::Contains("batch_records"));
  CHECK_THAT(message_of(R"({"journal": {"retention": {"keep": 9}}})"),
             Catch::Contains("journal.retention.keep") && Catch::Contains("unknown key"));
}

TEST_CASE("config fanout limits: read, range-checked, consistent") {
  Config c = parse_config(R"({"fanout": {"max_branches": 50, "max_concurrency": 4,
      "default_concurrency": 2, "default_branch_timeout_ms": 1000, "max_branch_timeout_ms": 5000,
      "max_wall_ms": 9000, "max_results": 7, "max_output_bytes": 4096, "kill_grace_ms": 10,
      "max_attempts": 3, "recent_runs": 2}})", "cfg");
  CHECK(c.fanout.max_branches == 50);
  CHECK(c.fanout.max_concurrency == 4);
  CHECK(c.fanout.default_concurrency == 2);
  CHECK(c.fanout.default_branch_timeout_ms == 1000);
  CHECK(c.fanout.max_branch_timeout_ms == 5000);
  CHECK(c.fanout.max_wall_ms == 9000);
  CHECK(c.fanout.max_results == 7);
  CHECK(c.fanout.max_output_bytes == 4096);
  CHECK(c.fanout.kill_grace_ms == 10);
  CHECK(c.fanout.max_attempts == 3);
  CHECK(c.fanout.recent_runs == 2);
  CHECK_THAT(message_of(R"({"fanout": {"max_concurrency": 0}})"), Catch::Contains("fanout.max_concurrency"));
  CHECK_THAT(message_of(R"({"fanout": {"max_branch": 5}})"), Catch::Contains("fanout.max_branch"));
  CHECK_THAT(message_of(R"({"fanout": {"max_concurrency": 2, "default_concurrency": 3}})"),
             Catch::Contains("default_concurrency"));
}

TEST_CASE("config escalation budgets, per agent") {
  // "agents" before the section's own keys: an agent's missing field still
  // takes the section's value, not the built-in one.
  Config c = parse_config(R"({"escalation": {
      "agents": {"ci": {"capacity": 10}, "slow": {"refill_ms": 60000}},
      "capacity": 5, "refill_ms": 1000, "max_wait_ms": 2000}})",
                          "cfg");
  CHECK(c.store.escalation_budget == keel::state::EscalationBudget{5, 1000});
  CHECK(c.store.escalation_max_wait_ms == 2000);
  CHECK(c.store.escalation_agent_budgets.at("ci") == keel::state::EscalationBudget{10, 1000});
  CHECK(c.store.escalation_agent_budgets.at("slow") == keel::state::EscalationBudget{5, 60000});
  CHECK_THROWS_WITH(parse_config(R"({"escalation": {"capacity": 0}})", "cfg"),
                    Catch::Contains("escalation.capacity"));
  CHECK_THROWS_WITH(parse_config(R"({"escalation": {"agents": {"x": {"refill": 1}}}})", "cfg"),
                    Catch::Contains("escalation.agents.x.refill"));
}

TEST_CASE("config http principals and timeouts") {
  Config c = parse_config(R"({"http": {"principals": {
      "ci": {"token": "0123456789abcdef0123", "agent": "ci-bot", "capabilities": ["lease"]},
      "plain": {"token": "fedcba9876543210fedc"}},
      "header_timeout_ms": 500, "idle_timeout_ms": 700, "threads": 3},
    "principals": {"default_capabilities": ["journal.read"]}})", "cfg");
  REQUIRE(c.http_principals.size() == 2);
  CHECK(c.http_principals.at("ci").agent == "ci-bot");
  CHECK(c.http_principals.at("ci").token == "0123456789abcdef0123");
  CHECK(c.http_principals.at("ci").capabilities == std::set<std::string>{"lease"});
  CHECK(c.http_principals.at("plain").agent == "plain");
  CHECK(c.http_principals.at("plain").capabilities == std::set<std::string>{"journal.read"});
  CHECK(c.http_header_timeout_ms == 500);
  CHECK(c.http_idle_timeout_ms == 700);
  CHECK(c.http_threads == 3);
  CHECK_THAT(message_of(R"({"http": {"principals": {"x": {"agent": "a"}}}})"),
             Catch::Contains("http.principals.x") && Catch::Contains("token"));
  CHECK_THAT(message_of(R"({"http": {"principals": {"x": {"token": "short"}}}})"),
             Catch::Contains("16 characters"));
  CHECK_THAT(message_of(R"({"http": {"thread": 2}})"), Catch::Contains("http.thread"));
}

TEST_CASE("config accepts comments, trailing commas and per-agent capabilities") {
  Config c = parse_config(R"({
    // a comment
    "store": {"synchronous": "normal", "max_batch": 8,},
    "principals": {"agents": {"reviewer": {"capabilities": ["journal.read"]}}},
  })", "test");
  CHECK(c.store.synchronous == keel::state::Synchronous::kNormal);
  CHECK(c.store.max_batch == 8);
  CHECK(c.capabilities_for("reviewer") == std::set<std::string>{"journal.read"});
  CHECK(c.capabilities_for("someone-else") == keel::state::default_agent_capabilities());
}

TEST_CASE("config errors name the offending key") {
  CHECK_THAT(message_of(R"({"store": {"synchronus": "full"}})"),
             Catch::Contains("store.synchronus") && Catch::Contains("unknown key"));
  CHECK_THAT(message_of(R"({"lease": {"default_ttl_ms": "60s"}})"),
             Catch::Contains("lease.default_ttl_ms") && Catch::Contains("integer"));
  CHECK_THAT(message_of(R"({"lease": {"max_ttl_ms": 0}})"), Catch::Contains("between"));
  CHECK_THAT(message_of(R"({"store": {"synchronous": "sometimes"}})"),
             Catch::Contains("\"full\" or \"normal\""));
  CHECK_THAT(message_of(R"({"principals": {"default_capabilities": ["lease", "root"]}})"),
             Catch::Contains("unknown capability 'root'"));
  CHECK_THAT(message_of(R"({"mcp": {"max_message_bytes": 10}})"),
             Catch::Contains("mcp.max_message_bytes"));
  CHECK_THAT(message_of("[1, 2]"), Catch::Contains("JSON object"));
  CHECK_THAT(message_of("{\"store\": "), Catch::Contains("not valid JSON"));
  CHECK_THAT(message_of(R"({"memory": {"page_size": 50, "max_page_size": 10}})"),
             Catch::Contains("page_size"));
  CHECK_THAT(message_of(R"({"log": {"level": "loud"}})"), Catch::Contains("log.level"));
}

TEST_CASE("config store, node and project keys reach the store options") {
  Config c = parse_config(R"({"store": {"url": "postgresql://keel@db/keel", "pg_call_timeout_ms": 2500,
                                        "pg_pool_size": 4},
                              "node": {"id": "laptop-1"}, "project": {"id": "acme/widgets"}})",
                          "cfg");
  CHECK(c.store.url == "postgresql://keel@db/keel");
  CHECK(c.store.pg_call_timeout_ms == 2500);
  CHECK(c.store.pg_pool_size == 4);
  CHECK(c.store.node == "laptop-1");
  CHECK(c.project_id == "acme/widgets");
}

TEST_CASE("config values reach the options they configure") {
  Config c = parse_config(R"({"mcp": {"max_message_bytes": 2048, "tools_page_size": 3,
                                      "stdio_workers": 2, "instructions": "hi"},
                              "lease": {"default_ttl_ms": 5, "max_ttl_ms": 10, "max_wait_ms": 7}})",
                          "cfg");
  CHECK(c.server.max_message_bytes == 2048);
  CHECK(c.server.tools_page_size == 3);
  CHECK(c.stdio_workers == 2);
  CHECK(c.server.instructions == "hi");
  CHECK(c.lease_default_ttl_ms == 5);
  CHECK(c.store.lease_max_ttl_ms == 10);
  CHECK(c.store.lease_max_wait_ms == 7);
}

TEST_CASE("the permission section is validated by the gate's own rules") {
  Config shipped = load_config_file(std::string(KEEL_SOURCE_DIR) + "/configs/keel.jsonc");
  REQUIRE(shipped.permission.is_object());
  CHECK(shipped.permission.at("rules").as_array().empty());
  Config c = parse_config(R"({"permission": {"rules": [{"decision": "allow", "command": "git clean -fdx"}]}})",
                          "cfg");
  CHECK(c.permission.at("rules").as_array().size() == 1);
  REQUIRE(c.gate.rules.size() == 1);  // parsed once, typed
  CHECK(c.gate.rules[0].command == "git clean -fdx");
  CHECK_THROWS_WITH(parse_config(R"({"permission": {"strict": "yes"}})", "cfg"),
                    Catch::Contains("permission.strict"));
  CHECK_THROWS_AS(parse_config(R"({"permission": {"rules": [{"decision": "maybe"}]}})", "cfg"),
                  ConfigError);
}

TEST_CASE("the hooks section: shipped defaults, overrides and errors naming the key") {
  Config shipped = load_config_file(std::string(KEEL_SOURCE_DIR) + "/configs/keel.jsonc");
  REQUIRE(shipped.hooks.is_object());
  CHECK(keel::hooks::parse_hooks_config(shipped.hooks) == keel::hooks::HooksConfig{});
  CHECK(keel::hooks::parse_hooks_config(Config{}.hooks) == keel::hooks::HooksConfig{});

  Config c = parse_config(R"({"hooks": {"budget": {"session_cost_usd": 5, "turn_tokens": 1000,
      "model_prices": {"claude-opus-*": {"input": 15, "output": 75}}},
      "oracle": {"command": "make test", "max_blocks": 2}, "self_check": {"enabled": true},
      "permission_gate": {"fail_closed": false},
      "lease_gate": {"auto_lease": true, "auto_lease_ttl_ms": 60000}}})", "cfg");
  auto h = keel::hooks::parse_hooks_config(c.hooks);
  CHECK(c.hook_policies == h);  // parsed once, typed
  CHECK(shipped.hook_policies == keel::hooks::HooksConfig{});
  CHECK(h.budget.session_cost_usd == 5);
  CHECK(h.budget.turn_tokens == 1000);
  CHECK(h.budget.enabled());
  REQUIRE(h.budget.model_prices.count("claude-opus-*") == 1);
  CHECK(h.budget.model_prices.at("claude-opus-*").output == 75);
  CHECK(h.budget.model_prices.at("claude-opus-*").cache_read == h.budget.prices.cache_read);
  CHECK(h.oracle.command == "make test");
  CHECK(h.oracle.max_blocks == 2);
  CHECK(h.self_check.enabled);
  CHECK_FALSE(h.permission_fail_closed);
  CHECK(h.lease_fail_closed);
  CHECK(h.lease_auto);
  CHECK(h.lease_auto_ttl_ms == 60'000);
  CHECK_THROWS_WITH(parse_config(R"({"hooks": {"lease_gate": {"auto_lease_ttl_ms": 10}}})", "cfg"),
                    Catch::Contains("hooks.lease_gate.auto_lease_ttl_ms"));

  CHECK_THROWS_WITH(parse_config(R"({"hooks": {"budget": {"session_cost": 5}}})", "cfg"),
                    Catch::Contains("hooks.budget.session_cost") && Catch::Contains("unknown key"));
  CHECK_THROWS_WITH(parse_config(R"({"hooks": {"oracle": {"max_blocks": 0}}})", "cfg"),
                    Catch::Contains("hooks.oracle.max_blocks"));
  CHECK_THROWS_WITH(parse_config(R"({"hooks": {"guardrail": {"enabled": "yes"}}})", "cfg"),
                    Catch::Contains("hooks.guardrail.enabled"));
  CHECK_THROWS_WITH(parse_config(R"({"hooks": {"budget": {"warn_ratio": 2}}})", "cfg"),
                    Catch::Contains("hooks.budget.warn_ratio"));
  CHECK_THROWS_WITH(parse_config(R"({"hooks": {"budget": {"model_prices": {"x": {"in": 1}}}}})", "cfg"),
                    Catch::Contains("hooks.budget.model_prices.x.in"));
}

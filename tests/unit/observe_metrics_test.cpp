// Unit tests: the metrics registry and its text exposition (observe/metrics.h), read back
// with a strict parser of the format (observe_prom_parser.h); the Telemetry families
// as keel serve exposes them (observe/telemetry.h).
#include <catch2/catch.hpp>

#include <thread>

#include "observe/metrics.h"
#include "observe/telemetry.h"
#include "observe_prom_parser.h"

using namespace keel::observe;
using keel::observe::testing::parse_exposition;

TEST_CASE("exposition: counters, gauges and HELP/TYPE lines parse back", "[observe][metrics]") {
  Registry r;
  auto& calls = r.counter("keel_test_calls_total", "Calls.\nSecond line with a \\ backslash.",
                          {"tool", "outcome"});
  auto& live = r.gauge("keel_test_live", "Live things.");
  calls.with({"lease_acquire", "ok"}).inc();
  calls.with({"lease_acquire", "ok"}).inc(2);
  calls.with({"memory_put", "error"}).inc();
  live.with({}).set(7);
  const std::string text = r.render();
  const auto e = parse_exposition(text);
  CHECK(e.types.at("keel_test_calls_total") == "counter");
  CHECK(e.types.at("keel_test_live") == "gauge");
  CHECK(e.help.at("keel_test_calls_total") == "Calls.\nSecond line with a \\ backslash.");
  CHECK(e.value("keel_test_calls_total", {{"tool", "lease_acquire"}, {"outcome", "ok"}}) == 3);
  CHECK(e.value("keel_test_calls_total", {{"tool", "memory_put"}, {"outcome", "error"}}) == 1);
  CHECK(e.value("keel_test_live") == 7);
  // The exact lines, in the format's own spelling.
  CHECK(text.find("# TYPE keel_test_calls_total counter\n") != std::string::npos);
  CHECK(text.find("keel_test_calls_total{tool=\"lease_acquire\",outcome=\"ok\"} 3\n") != std::string::npos);
  CHECK(text.find("keel_test_live 7\n") != std::string::npos);
}

TEST_CASE("exposition: label values are escaped and read back unchanged", "[observe][metrics]") {
  Registry r;
  auto& c = r.counter("keel_test_total", "x", {"rule"});
  const std::string nasty = "a\"b\\c\nd} e=\"f\",g";
  c.with({nasty}).inc();
  c.with({""}).inc(4);
  const auto e = parse_exposition(r.render());
  CHECK(e.value("keel_test_total", {{"rule", nasty}}) == 1);
  CHECK(e.value("keel_test_total", {{"rule", ""}}) == 4);
  CHECK(escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}

TEST_CASE("histogram: le buckets are cumulative, with +Inf, _sum and _count", "[observe][metrics]") {
  Registry r;
  auto& h = r.histogram("keel_test_seconds", "Latency.", {"tool"}, {0.001, 0.01, 0.1, 1});
  auto& x = h.with({"x"});
  x.observe(0.0005);  // le 0.001
  x.observe(0.001);   // exactly on a bound: le 0.001 (bounds are inclusive)
  x.observe(0.05);    // le 0.1
  x.observe(2.5);     // only +Inf
  const std::string text = r.render();
  const auto e = parse_exposition(text);
  auto bucket = [&](const std::string& le) {
    return e.value("keel_test_seconds_bucket", {{"tool", "x"}, {"le", le}}, -1);
  };
  CHECK(bucket("0.001") == 2);
  CHECK(bucket("0.01") == 2);
  CHECK(bucket("0.1") == 3);
  CHECK(bucket("1") == 3);
  CHECK(bucket("+Inf") == 4);
  CHECK(e.value("keel_test_seconds_count", {{"tool", "x"}}) == 4);
  CHECK(e.value("keel_test_seconds_sum", {{"tool", "x"}}) == Approx(2.5515));
  CHECK(text.find("keel_test_seconds_bucket{tool=\"x\",le=\"+Inf\"} 4\n") != std::string::npos);
}

TEST_CASE("histogram: concurrent observations are all counted", "[observe][metrics]") {
  Registry r;
  auto& h = r.histogram("keel_test_jobs", "Jobs.", {}, {1, 2, 4});
  auto& c = r.counter("keel_test_ops_total", "Ops.", {"k"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        h.with({}).observe(static_cast<double>(i % 5));
        c.with({t % 2 == 0 ? "even" : "odd"}).inc();
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto e = parse_exposition(r.render());
  CHECK(e.value("keel_test_jobs_count") == 40000);
  CHECK(e.value("keel_test_jobs_bucket", {{"le", "1"}}) == 16000);  // 0 and 1
  CHECK(e.value("keel_test_jobs_sum") == 80000);
  CHECK(e.value("keel_test_ops_total", {{"k", "even"}}) == 20000);
  CHECK(e.value("keel_test_ops_total", {{"k", "odd"}}) == 20000);
}

TEST_CASE("registry: bounded series, bad names refused, values formatted", "[observe][metrics]") {
  Registry r;
  auto& c = r.counter("keel_test_total", "x", {"tool"});
  for (std::size_t i = 0; i < kMaxSeries + 100; ++i) c.with({"t" + std::to_string(i)}).inc();
  const auto e = parse_exposition(r.render());
  std::size_t series = 0;
  for (const auto& s : e.samples) series += s.name == "keel_test_total";
  CHECK(series == kMaxSeries + 1);
  CHECK(e.value("keel_test_total", {{"tool", "other"}}) == 100);

  CHECK_THROWS_AS(r.counter("keel_test_total", "again"), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("1bad", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.gauge("keel_ok", "x", {"le"}), std::invalid_argument);
  CHECK_THROWS_AS(r.gauge("keel_ok2", "x", {"bad-label"}), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram("keel_h", "x", {}, {1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram("keel_h2", "x", {}, {}), std::invalid_argument);
  CHECK_THROWS_AS(c.with({"a", "b"}), std::invalid_argument);

  CHECK(format_value(3) == "3");
  CHECK(format_value(0.25) == "0.25");
  CHECK(format_value(0.0005) == "0.0005");
  CHECK(format_value(1.0 / 0.0) == "+Inf");
  CHECK(format_value(-1.0 / 0.0) == "-Inf");
  CHECK(format_value(std::nan("")) == "NaN");
}

TEST_CASE("telemetry: every family of keel serve renders strictly; commits are measured",
          "[observe][metrics]") {
  Telemetry t(TelemetryOptions{});
  keel::state::CommitSample s;
  s.jobs = 3;
  s.duration_ns = 2'000'000;  // 2 ms
  t.on_commit(s);
  s.jobs = 40;
  s.ok = false;
  t.on_commit(s);
  t.read_process();
  const auto e = parse_exposition(t.registry.render());
  for (const char* name :
       {"keel_mcp_requests_total", "keel_mcp_request_duration_seconds", "keel_tool_calls_total",
        "keel_tool_call_duration_seconds", "keel_leases_live", "keel_lease_waiters",
        "keel_escalations_pending", "keel_hook_decisions_total", "keel_notify_deliveries_total",
        "keel_http_sessions", "keel_store_commits_total", "keel_store_commit_jobs",
        "keel_store_commit_duration_seconds", "keel_trace_spans_exported_total",
        "keel_trace_spans_dropped_total", "keel_trace_export_failures_total",
        "process_resident_memory_bytes", "process_start_time_seconds"}) {
    INFO(name);
    CHECK(e.types.count(name) == 1);
    CHECK(e.help.count(name) == 1);
  }
  CHECK(e.value("keel_store_commits_total", {{"outcome", "ok"}}) == 1);
  CHECK(e.value("keel_store_commits_total", {{"outcome", "failed"}}) == 1);
  CHECK(e.value("keel_store_commit_jobs_bucket", {{"le", "4"}}) == 1);
  CHECK(e.value("keel_store_commit_jobs_bucket", {{"le", "64"}}) == 2);
  CHECK(e.value("keel_store_commit_jobs_sum") == 43);
  CHECK(e.value("keel_store_commit_duration_seconds_bucket", {{"le", "0.0025"}}) == 2);
  CHECK(e.value("keel_store_commit_duration_seconds_bucket", {{"le", "0.001"}}) == 0);
  CHECK(e.value("process_resident_memory_bytes") > 1024 * 1024);
  CHECK(e.value("keel_trace_spans_dropped_total", {}, -1) == 0);
}

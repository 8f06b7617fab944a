// Unit tests: what a scrape reads from the store (observe/scrape.h) on a real SQLite
// store — live leases, pending escalations, HOOK and NOTIFY records counted from the
// cursor taken at attach (earlier records are not counted; each record once), the
// commit observer fed by the store's writer — and the /metrics route's answers.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

#include <boost/json.hpp>

#include "observe/scrape.h"
#include "observe_prom_parser.h"
#include "state/principal.h"
#include "state/store.h"

using namespace keel;
using keel::observe::testing::parse_exposition;
namespace json = boost::json;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("keel-observe-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

state::Principal human() {
  const auto& all = state::all_capabilities();
  return state::Principal{"tester", "proj", "s1", std::set<std::string>(all.begin(), all.end())};
}

}  // namespace

TEST_CASE("scrape: store gauges, journal counters from the attach cursor, commits",
          "[observe][scrape]") {
  TempDir dir;
  auto telemetry = std::make_shared<observe::Telemetry>(observe::TelemetryOptions{});
  state::StoreOptions opts;
  opts.dir = dir.path;
  opts.on_commit = [telemetry](const state::CommitSample& s) { telemetry->on_commit(s); };
  auto store = state::open_sqlite_store(opts);
  const state::Principal who = human();

  // Before attach: a HOOK record that must not be counted.
  store->journal_append(who, "HOOK", "Bash", json::object{{"outcome", "deny"}, {"rule", "old"}});

  auto scraper = std::make_shared<observe::Scraper>(telemetry);
  scraper->attach_store(*store, who);

  state::AcquireRequest a;
  a.name = "file:/tmp/observe/a";
  a.ttl_ms = 60'000;
  REQUIRE(store->acquire_lease(who, a).granted);
  state::EscalationRequest er;
  er.reason = "need a human";
  REQUIRE(store->request_escalation(who, er).escalation);
  for (int i = 0; i < 3; ++i) {
    store->journal_append(who, "HOOK", "Bash", json::object{{"outcome", "deny"}, {"rule", "gate:rm"}});
  }
  store->journal_append(who, "HOOK", "Edit", json::object{{"outcome", "allow"}});
  store->journal_append(who, "NOTIFY", "notify:ops",
                        json::object{{"target", "ops"}, {"outcome", "delivered"}});
  store->journal_append(who, "NOTIFY", "notify:ops",
                        json::object{{"target", "ops"}, {"outcome", "started"}});
  store->journal_append(who, "NOTIFY", "notify:ops",
                        json::object{{"target", "ops"}, {"outcome", "failed"}});
  // Another project's records are not this server's.
  state::Principal other = who;
  other.project = "other";
  store->journal_append(other, "HOOK", "Bash", json::object{{"outcome", "deny"}, {"rule", "gate:rm"}});

  auto e = parse_exposition(scraper->scrape());
  CHECK(e.value("keel_leases_live") == 1);
  CHECK(e.value("keel_escalations_pending") == 1);
  CHECK(e.value("keel_hook_decisions_total", {{"outcome", "deny"}, {"rule", "gate:rm"}}) == 3);
  CHECK(e.value("keel_hook_decisions_total", {{"outcome", "allow"}, {"rule", ""}}) == 1);
  CHECK(e.value("keel_hook_decisions_total", {{"outcome", "deny"}, {"rule", "old"}}, -1) == -1);
  CHECK(e.value("keel_notify_deliveries_total", {{"target", "ops"}, {"outcome", "delivered"}}) == 1);
  CHECK(e.value("keel_notify_deliveries_total", {{"target", "ops"}, {"outcome", "failed"}}) == 1);
  CHECK(e.value("keel_notify_deliveries_total", {{"target", "ops"}, {"outcome", "started"}}, -1) == -1);
  CHECK(e.value("keel_store_commits_total", {{"outcome", "ok"}}) >= 5);
  CHECK(e.value("keel_store_commit_jobs_count") == e.value("keel_store_commits_total", {{"outcome", "ok"}}));

  // A second scrape counts only what is new.
  store->journal_append(who, "HOOK", "Bash", json::object{{"outcome", "deny"}, {"rule", "gate:rm"}});
  e = parse_exposition(scraper->scrape());
  CHECK(e.value("keel_hook_decisions_total", {{"outcome", "deny"}, {"rule", "gate:rm"}}) == 4);
  CHECK(e.value("keel_hook_decisions_total", {{"outcome", "allow"}, {"rule", ""}}) == 1);

  // The route: GET on exactly /metrics.
  const mcp::HttpRoute route = observe::metrics_route(scraper);
  mcp::HttpRouteRequest req;
  req.method = "GET";
  req.path = "/metrics";
  auto res = route(req);
  CHECK(res.status == 200);
  CHECK(res.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK_NOTHROW(parse_exposition(res.body));
  req.method = "POST";
  CHECK(route(req).status == 405);
  req.method = "GET";
  req.path = "/metricsx";
  CHECK(route(req).status == 404);

  store.reset();  // the writer's last commits reach the Telemetry it shares
  telemetry->close();
}

// keel store copy / migrate: a project's whole state moves to an empty store
// and the target's journal verifies and replays; a non-empty target is
// refused. The PostgreSQL round trip needs KEEL_TEST_STORE_URL (WARN and
// skip without it) and keel-pg beside keel.
#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <random>
#include <string>

#include <boost/json.hpp>

#include "cli_test_util.h"
#include "state/store.h"
#include "state/store_copy.h"

namespace fs = std::filesystem;
namespace json = boost::json;
namespace st = keel::state;

using keel::cli::testing::quote;
using keel::cli::testing::Run;
using keel::cli::testing::shell;
using keel::state::testing::admin;
using keel::state::testing::TempDir;

namespace {

const std::string kProject = "/proj/copy";

st::StoreOptions options_in(const fs::path& dir) {
  st::StoreOptions o;
  o.dir = dir;
  o.node = "copy-node";
  return o;
}

st::StoreImaging& imaging(st::Store& s) {
  auto* i = dynamic_cast<st::StoreImaging*>(&s);
  REQUIRE(i != nullptr);
  return *i;
}

// A project with something in every table: leases (one live, with a
// request_id; one released), memory (TTL, fence), an escalation resolved and
// one pending, an agent, a note.
void fill(st::Store& s) {
  const st::Principal human = admin("human", kProject);
  const st::Principal agent = admin("agent-a", kProject);
  s.register_agent(agent, st::AgentRegistration{"test"});
  st::AcquireRequest live;
  live.name = "build";
  live.ttl_ms = 3'600'000;
  live.request_id = "req-1";
  const st::AcquireResult held = s.acquire_lease(agent, live);
  REQUIRE(held.granted);
  st::AcquireRequest gone = live;
  gone.name = "deploy";
  gone.request_id.reset();
  const st::AcquireResult g = s.acquire_lease(agent, gone);
  REQUIRE(g.granted);
  s.release_lease(agent, "deploy", g.lease->lease_id);
  // A counted name (lease_capacities) and a release ask (lease_asks).
  st::AcquireRequest slot;
  slot.name = "slot:build";
  slot.ttl_ms = 3'600'000;
  slot.capacity = 2;
  REQUIRE(s.acquire_lease(agent, slot).granted);
  REQUIRE(s.ask_release(admin("agent-b", kProject), "build", "the release build waits").size() == 1);

  st::PutRequest put;
  put.key = "notes/auth";
  put.value = json::object{{"text", "rotate the signing keys"}};
  put.ns = st::Namespace::kShared;
  put.ttl_ms = 3'600'000;
  put.fence = st::Fence{"build", held.lease->token};
  REQUIRE(s.memory_put(agent, put).version == 1);
  put.value = json::object{{"text", "rotate the signing keys weekly"}};
  REQUIRE(s.memory_put(agent, put).version == 2);

  st::EscalationRequest e;
  e.reason = "needs a human";
  e.context = json::object{};
  e.proposal = json::object{{"do", "x"}};
  const auto first = s.request_escalation(agent, e);
  REQUIRE(first.escalation);
  st::ResolveEscalationRequest r;
  r.id = first.escalation->id;
  r.via = "test";
  REQUIRE(s.resolve_escalation(human, r).resolved);
  e.reason = "still pending";
  REQUIRE(s.request_escalation(agent, e).escalation);
  s.journal_append(human, "NOTE", "copy", json::object{{"n", 1}});

  // A completed idempotent tool call (tool_requests), a fanout result in the
  // cache and an open circuit breaker.
  const st::RequestClaim claim = s.claim_request(agent, "memory_put", "put-1", "hash-1");
  REQUIRE(claim.status == st::RequestClaim::Status::kNew);
  s.complete_request(agent, "memory_put", "put-1", claim.claim_id, R"({"version":1})");
  st::FanoutCacheEntry cached;
  cached.digest = "digest-1";
  cached.result_json = R"({"ok":true})";
  cached.stored_at_ms = 1;
  cached.expires_at_ms = 4'000'000'000'000;
  s.fanout_cache_store(agent, cached);
  st::FanoutBreaker breaker;
  breaker.provider = "tool:flaky";
  breaker.state = "open";
  breaker.consecutive_failures = 5;
  breaker.opened = 1;
  breaker.opened_at_ms = 1;
  s.fanout_breaker_store(agent, breaker);
}

}  // namespace

TEST_CASE("a project's whole state copies into an empty store, chain and tokens intact",
          "[cli-store][copy]") {
  TempDir dir;
  auto src = st::open_sqlite_store(options_in(dir.path() / "src"));
  fill(*src);
  const st::Principal human = admin("human", kProject);
  const st::StateImage image = imaging(*src).export_image(human);

  auto dst = st::open_sqlite_store(options_in(dir.path() / "dst"));
  imaging(*dst).import_image(human, image);

  st::JournalFilter all;
  all.newest_first = false;
  all.limit = 10000;
  const auto before = src->journal_query(human, all);
  const auto after = dst->journal_query(human, all);
  CHECK(after == before);  // every field, hashes and nodes included
  const st::VerifyReport v = dst->journal_verify(human);
  CHECK(v.ok);
  CHECK(v.records == static_cast<std::int64_t>(before.size()));
  CHECK(dst->journal_replay(human).equal);

  // Every table reads back as it was exported (tombstones, idempotency
  // records, buckets... included).
  const st::StateImage back = imaging(*dst).export_image(human);
  REQUIRE(back.tables.size() == image.tables.size());
  for (std::size_t t = 0; t < image.tables.size(); ++t) {
    INFO(image.tables[t].table);
    CHECK(back.tables[t].rows == image.tables[t].rows);
    CHECK_FALSE(image.tables[t].rows.empty());
  }
  CHECK(back.head_seq == image.head_seq);
  CHECK(back.head_hash == image.head_hash);

  const auto leases = dst->list_leases(human);
  REQUIRE(leases.size() == 2);  // build, slot:build
  CHECK(leases == src->list_leases(human));
  // Tokens go on from the source's counter.
  st::AcquireRequest next;
  next.name = "other";
  next.ttl_ms = 60'000;
  const auto fresh = dst->acquire_lease(admin("agent-b", kProject), next);
  REQUIRE(fresh.granted);
  CHECK(fresh.lease->token > leases[0].token);
  // A retried acquire with the copied request_id is answered from its record.
  st::AcquireRequest retry;
  retry.name = "build";
  retry.ttl_ms = 3'600'000;
  retry.request_id = "req-1";
  const auto replayed = dst->acquire_lease(admin("agent-a", kProject), retry);
  CHECK(replayed.replayed);
  CHECK(replayed.lease->lease_id == leases[0].lease_id);
  const auto got = dst->memory_get(admin("agent-a", kProject), st::Tier::kCrossRun,
                                   st::Namespace::kShared, "notes/auth");
  REQUIRE(got.found);
  CHECK(got.version == 2);
  CHECK(got.value.at("text") == "rotate the signing keys weekly");
  CHECK(got.expires_at_ms.has_value());
  st::SearchRequest q;
  q.query = "weekly";
  const auto hits = dst->memory_search(admin("agent-a", kProject), q);
  REQUIRE(hits.size() == 1);

  const auto escalations = dst->list_escalations(human, st::EscalationListRequest{});
  const auto source_escalations = src->list_escalations(human, st::EscalationListRequest{});
  REQUIRE(escalations.escalations.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(escalations.escalations[i].id == source_escalations.escalations[i].id);
    CHECK(escalations.escalations[i].resolved == source_escalations.escalations[i].resolved);
  }
  const auto agents = dst->list_agents(human, true);
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].name == "agent-a");
  // A retried tool call is answered from the copied record; the cached
  // fanout result and the open breaker came along.
  const st::RequestClaim retried =
      dst->claim_request(admin("agent-a", kProject), "memory_put", "put-1", "hash-1");
  CHECK(retried.status == st::RequestClaim::Status::kReplay);
  CHECK(retried.result_json == R"({"version":1})");
  const auto hit = dst->fanout_cache_lookup(admin("agent-a", kProject), {"digest-1"});
  REQUIRE(hit.size() == 1);
  REQUIRE(hit[0].has_value());
  CHECK(hit[0]->result_json == R"({"ok":true})");
  const auto breakers = dst->fanout_breakers(admin("agent-a", kProject));
  REQUIRE(breakers.size() == 1);
  CHECK(breakers[0].provider == "tool:flaky");
  CHECK(breakers[0].state == "open");
  CHECK(breakers[0].consecutive_failures == 5);

  // A second copy into the same store is refused and changes nothing.
  const auto count = dst->journal_query(human, all).size();
  CHECK_THROWS_AS(imaging(*dst).import_image(human, image), st::StoreError);
  CHECK(dst->journal_query(human, all).size() == count);
  // So is an image of another project.
  auto other = st::open_sqlite_store(options_in(dir.path() / "other"));
  CHECK_THROWS_AS(imaging(*other).import_image(admin("human", "/elsewhere"), image),
                  st::StoreError);
}

TEST_CASE("a SQLite store whose one chain holds two projects is not cut apart",
          "[cli-store][copy]") {
  TempDir dir;
  auto s = st::open_sqlite_store(options_in(dir.path() / "s"));
  s->journal_append(admin("human", "/a"), "NOTE", "a", json::object{});
  s->journal_append(admin("human", "/b"), "NOTE", "b", json::object{});
  try {
    imaging(*s).export_image(admin("human", "/a"));
    FAIL("exported a store holding two projects");
  } catch (const st::StoreError& e) {
    CHECK(e.code() == st::ErrorCode::kInvalidArgument);
    CHECK_THAT(std::string(e.what()), Catch::Contains("other projects"));
  }
}

#ifdef KEEL_BINARY

namespace {
const std::string kKeel = KEEL_BINARY;
const std::string kCleanEnv =
    "env -u KEEL_STORE_URL -u KEEL_NODE_ID -u KEEL_PROJECT_ID -u KEEL_CONFIG -u KEEL_STATE_DIR "
    "-u KEEL_PG_BINARY ";
}  // namespace

TEST_CASE("keel store migrate and keel store copy on SQLite", "[cli-store][copy]") {
  keel::cli::testing::TempProject p;
  const std::string at = "cd " + quote(p.project.string()) + " && " + kCleanEnv + kKeel;
  REQUIRE(shell(at + " memory put k 1").status == 0);
  const Run migrate = shell(at + " store migrate");
  INFO(migrate.out);
  CHECK(migrate.status == 0);
  CHECK_THAT(migrate.out, Catch::Contains("schema version") && Catch::Contains("up to date"));

  const fs::path target = p.root / "copy";
  const Run copy = shell(at + " store copy --to sqlite:" + quote(target.string()));
  INFO(copy.out);
  CHECK(copy.status == 0);
  CHECK_THAT(copy.out, Catch::Contains("1 journal records") && Catch::Contains("intact"));
  CHECK(shell(at + " journal verify --state " + quote(target.string())).status == 0);
  CHECK(shell(at + " journal replay --state " + quote(target.string())).status == 0);
  const Run again = shell(at + " store copy --to sqlite:" + quote(target.string()));
  CHECK(again.status == 1);
  CHECK_THAT(again.out, Catch::Contains("not empty"));
}

TEST_CASE("keel store copy: SQLite to PostgreSQL and back", "[cli-store][copy][pg]") {
  const std::optional<std::string> base = st::testing::test_store_url();
  if (!base) {
    WARN("KEEL_TEST_STORE_URL is unset: PostgreSQL case skipped");
    return;
  }
  std::random_device rd;
  const std::string schema = "h4copy_" + std::to_string(rd()) + std::to_string(rd());
  st::testing::TestSchemas::instance().add(schema);
  const std::string url = st::testing::url_with_search_path(*base, schema);
  keel::cli::testing::TempProject p;
  const std::string at = "cd " + quote(p.project.string()) + " && " + kCleanEnv + kKeel;
  REQUIRE(shell(at + " memory put k '\"one\"'").status == 0);
  REQUIRE(shell(at + " memory put k '\"two\"'").status == 0);

  const Run to_pg = shell(at + " store copy --to " + quote(url));
  INFO(to_pg.out);
  if (to_pg.out.find("cannot export or import state yet") != std::string::npos) {
    WARN("PgStore does not implement StoreImaging yet: round trip skipped");
    return;
  }
  REQUIRE(to_pg.status == 0);
  CHECK(shell(at + " --store " + quote(url) + " journal verify").status == 0);
  CHECK(shell(at + " --store " + quote(url) + " journal replay").status == 0);
  const Run get = shell(at + " --store " + quote(url) + " memory get k");
  CHECK_THAT(get.out, Catch::Contains("two"));

  const fs::path back = p.root / "back";
  const Run from_pg =
      shell(at + " store copy --from " + quote(url) + " --to sqlite:" + quote(back.string()));
  INFO(from_pg.out);
  REQUIRE(from_pg.status == 0);
  const Run a = shell(at + " journal export");
  const Run b = shell(at + " journal export --state " + quote(back.string()));
  CHECK(a.out == b.out);
}

#endif  // KEEL_BINARY

// `keel store copy` on PostgreSQL (state/store_copy.h,
// state/postgres/pg_store_copy.cpp): a project written on PostgreSQL and
// exported, then imported into another schema, is the same project there —
// the same journal (verbatim, nodes and hashes included), verify and replay
// pass, leases, memory (versions, TTLs, search), escalations and agents are
// there, and tokens, seqs and escalation ids keep increasing. An import into
// a project that holds anything is refused. And a round trip SQLite ->
// PostgreSQL -> SQLite. Needs a server: the URL in KEEL_TEST_STORE_URL
// (skipped with a warning when unset).
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "state/store_copy.h"
#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;

namespace {

// A PostgreSQL store on a schema of its own (a fresh TempDir is a fresh
// schema), its node named `node`, its time the shared ManualClock.
struct PgSide {
  TempDir dir;
  std::unique_ptr<Store> store;
  PgSide(const std::string& url, const std::string& node, std::shared_ptr<ManualClock> clock) {
    StoreOptions o;
    o.dir = dir.path() / "state";
    o.node = node;
    o.clock = std::move(clock);
    const std::string schema = test_schema_for(o.dir);
    TestSchemas::instance().add(schema);
    o.url = url_with_search_path(url, schema);
    store = open_postgres_store(o);
  }
  Store& s() { return *store; }
  StoreImaging& imaging() {
    auto* i = dynamic_cast<StoreImaging*>(store.get());
    REQUIRE(i != nullptr);
    return *i;
  }
};

std::unique_ptr<Store> open_sqlite(const TempDir& dir, const std::string& node,
                                   std::shared_ptr<ManualClock> clock) {
  StoreOptions o;
  o.dir = dir.path() / "state";
  o.node = node;
  o.clock = std::move(clock);
  return open_sqlite_store(o);
}

PutRequest put(const std::string& key, json::value value,
               std::optional<std::int64_t> ttl_ms = std::nullopt) {
  PutRequest r;
  r.key = key;
  r.value = std::move(value);
  r.ttl_ms = ttl_ms;
  return r;
}

EscalationRequest ask(const std::string& reason) {
  EscalationRequest r;
  r.reason = reason;
  r.context = json::object{{"file", "/proj/gen"}};
  r.proposal = json::object{{"command", "rm -rf gen"}};
  r.impact = EscalationImpact::kHigh;
  return r;
}

// What the copy tests write: leases (alice: one exclusive, one shared by
// request_id; bob: one released), memory (a key at version 2, one with a TTL,
// one fenced by a lease), two escalations (one resolved), two agents (bob
// suspended) and an appended record. Returns the tokens the leases got.
std::vector<std::int64_t> write_project(Store& s, ManualClock& clock) {
  const Principal a = agent("alice");
  const Principal b = agent("bob", "s2");
  std::vector<std::int64_t> tokens;
  s.register_agent(a, AgentRegistration{"claude-code 2"});
  s.register_agent(b, AgentRegistration{"hook:codex"});
  const AcquireResult held = s.acquire_lease(a, acquire("file:/src/a.cpp"));
  REQUIRE(held.granted);
  tokens.push_back(held.lease->token);
  AcquireRequest by_id = acquire("file:/src/b.cpp", 120'000, LeaseMode::kShared);
  by_id.request_id = "req-1";
  const AcquireResult shared = s.acquire_lease(a, by_id);
  REQUIRE(shared.granted);
  tokens.push_back(shared.lease->token);
  const AcquireResult gone = s.acquire_lease(b, acquire("file:/src/c.cpp"));
  REQUIRE(gone.granted);
  tokens.push_back(gone.lease->token);
  clock.advance(1000);
  REQUIRE(s.release_lease(b, "file:/src/c.cpp", gone.lease->lease_id, false) ==
          ReleaseOutcome::kReleased);

  s.memory_put(a, put("notes/auth-flow", json::object{{"text", "token rotation every hour"}}));
  clock.advance(10);
  s.memory_put(a, put("notes/auth-flow", json::object{{"text", "token rotation every day"}}));
  s.memory_put(a, put("scratch", json::string("short-lived"), 60'000));
  PutRequest fenced = put("fenced", json::array{1, 2, 3});
  fenced.ns = Namespace::kShared;
  fenced.fence = Fence{"file:/src/a.cpp", held.lease->token};
  s.memory_put(a, fenced);

  const auto first = s.request_escalation(a, ask("delete generated files"));
  REQUIRE(first.escalation);
  REQUIRE(s.request_escalation(b, ask("force push")).escalation);
  ResolveEscalationRequest resolve;
  resolve.id = first.escalation->id;
  resolve.decision = EscalationDecision::kAbort;
  resolve.via = "test";
  REQUIRE(s.resolve_escalation(admin(), resolve).resolved);
  s.suspend_agent(admin(), "bob", "too eager");
  s.journal_append(admin(), "NOTE", "copy-test", json::object{{"n", 1}});
  // An idempotent tool call, completed; a fanout result; an open breaker.
  const RequestClaim claim = s.claim_request(a, "memory_put", "put-1", "hash-1");
  REQUIRE(claim.status == RequestClaim::Status::kNew);
  s.complete_request(a, "memory_put", "put-1", claim.claim_id, R"({"version":1})");
  FanoutCacheEntry cached;
  cached.digest = "digest-1";
  cached.result_json = R"({"ok":true})";
  cached.stored_at_ms = clock.now_ms();
  cached.expires_at_ms = clock.now_ms() + 3'600'000;
  s.fanout_cache_store(a, cached);
  FanoutBreaker breaker;
  breaker.provider = "tool:flaky";
  breaker.state = "open";
  breaker.consecutive_failures = 5;
  breaker.opened = 1;
  breaker.opened_at_ms = clock.now_ms();
  s.fanout_breaker_store(a, breaker);
  clock.advance(500);
  return tokens;
}

// The rows of `table` in `image`.
const std::vector<std::vector<Cell>>& rows_of(const StateImage& image, std::string_view table) {
  for (const TableImage& t : image.tables) {
    if (t.table == table) return t.rows;
  }
  FAIL("the image has no table " << table);
  throw std::logic_error("unreachable");
}

std::vector<JournalRecord> whole_journal(Store& s) {
  JournalFilter f;
  f.project = "/proj";
  f.limit = 10000;
  f.newest_first = false;
  return s.journal_query(admin(), f);
}

// Each table's rows in one order whatever the backend read them in.
std::vector<std::vector<std::vector<Cell>>> sorted_tables(const StateImage& image) {
  std::vector<std::vector<std::vector<Cell>>> out;
  for (const TableImage& t : image.tables) {
    auto rows = t.rows;
    std::sort(rows.begin(), rows.end());
    out.push_back(std::move(rows));
  }
  return out;
}

// The target serves the copied project as the source did.
void check_copy(Store& src, Store& dst, ManualClock& clock, const StateImage& image,
                const std::vector<std::int64_t>& tokens) {
  const Principal a = agent("alice");
  const std::vector<JournalRecord> journal = whole_journal(dst);
  REQUIRE(journal == whole_journal(src));
  REQUIRE(journal.size() == image.records.size());

  const VerifyReport verify = dst.journal_verify(admin());
  INFO((verify.first_bad ? verify.first_bad->detail : std::string()));
  CHECK(verify.ok);
  CHECK(verify.records == static_cast<std::int64_t>(journal.size()));
  const ReplayReport replay = dst.journal_replay(admin());
  CHECK(replay.equal);
  CHECK(replay.differences.empty());
  CHECK(replay.table.size() == 2);

  CHECK(dst.list_leases(a, "") == src.list_leases(a, ""));
  // A retried acquire with the same request_id gets the copied grant.
  AcquireRequest retry = acquire("file:/src/b.cpp", 120'000, LeaseMode::kShared);
  retry.request_id = "req-1";
  const AcquireResult again = dst.acquire_lease(a, retry);
  CHECK(again.replayed);
  REQUIRE(again.lease);
  CHECK(again.lease->token == tokens[1]);

  const GetResult note = dst.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "notes/auth-flow");
  REQUIRE(note.found);
  CHECK(note.version == 2);
  CHECK(note.value.at("text") == "token rotation every day");
  const GetResult src_scratch = src.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "scratch");
  const GetResult scratch = dst.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "scratch");
  REQUIRE(scratch.found);
  CHECK(scratch.expires_at_ms == src_scratch.expires_at_ms);
  CHECK(scratch.updated_at_ms == src_scratch.updated_at_ms);
  CHECK(dst.memory_get(a, Tier::kCrossRun, Namespace::kShared, "fenced").found);
  // The search index was rebuilt: the copied words are found.
  SearchRequest search;
  search.query = "rotation";
  const std::vector<SearchHit> hits = dst.memory_search(a, search);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].key == "notes/auth-flow");

  const EscalationListResult src_esc = src.list_escalations(admin(), {});
  const EscalationListResult dst_esc = dst.list_escalations(admin(), {});
  REQUIRE(dst_esc.escalations.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    const Escalation& x = src_esc.escalations[i];
    const Escalation& y = dst_esc.escalations[i];
    CHECK(y.id == x.id);
    CHECK(y.agent == x.agent);
    CHECK(y.resolved == x.resolved);
    CHECK(y.decision == x.decision);
    CHECK(y.resolver == x.resolver);
    CHECK(y.created_at_ms == x.created_at_ms);
    CHECK(y.proposal == x.proposal);
  }

  const std::vector<AgentInfo> agents = dst.list_agents(admin(), true);
  REQUIRE(agents.size() == 2);
  const auto bob = std::find_if(agents.begin(), agents.end(),
                                [](const AgentInfo& i) { return i.name == "bob"; });
  REQUIRE(bob != agents.end());
  CHECK(bob->status == AgentStatus::kSuspended);
  CHECK(bob->suspend_reason == "too eager");
  REQUIRE_STORE_ERROR(dst.acquire_lease(agent("bob", "s2"), acquire("file:/x")),
                      ErrorCode::kPermissionDenied);

  // Going on from the copy: tokens, seqs and escalation ids keep increasing,
  // and the chain stays whole.
  const std::int64_t max_token = *std::max_element(tokens.begin(), tokens.end());
  const AcquireResult next = dst.acquire_lease(agent("carol", "s3"), acquire("file:/src/d.cpp"));
  REQUIRE(next.granted);
  CHECK(next.lease->token > max_token);
  CHECK(next.lease->token == image.next_token);
  const auto esc = dst.request_escalation(agent("carol", "s3"), ask("one more"));
  REQUIRE(esc.escalation);
  CHECK(esc.escalation->id > std::max(src_esc.escalations[0].id, src_esc.escalations[1].id));
  const std::vector<JournalRecord> after = whole_journal(dst);
  REQUIRE(after.size() > journal.size());
  CHECK(after[journal.size()].seq == journal.back().seq + 1);
  CHECK(after[journal.size()].prev_hash == journal.back().hash);
  CHECK(dst.journal_verify(admin()).ok);
  CHECK(dst.journal_replay(admin()).equal);
  // The TTL runs on: past it, the copied row is gone.
  clock.advance(60'000);
  CHECK_FALSE(dst.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "scratch").found);
}

}  // namespace

TEST_CASE("pg store copy: a project moves to another schema whole", "[pg][copy]") {
  const std::optional<std::string> url = test_store_url();
  if (!url) {
    WARN("KEEL_TEST_STORE_URL is unset: the PostgreSQL store-copy tests are skipped");
    return;
  }
  auto clock = std::make_shared<ManualClock>();
  PgSide src(*url, "node-src", clock);
  PgSide dst(*url, "node-dst", clock);
  const std::vector<std::int64_t> tokens = write_project(src.s(), *clock);
  // Another project of the target database does not stand in the way.
  const Principal zed = agent("zed", "s9", "/other");
  REQUIRE(dst.s().acquire_lease(zed, acquire("file:/z", 3'600'000)).granted);

  const StateImage image = src.imaging().export_image(admin());
  CHECK(image.project == "/proj");
  REQUIRE(!image.records.empty());
  CHECK(image.head_seq == image.records.back().seq);
  CHECK(image.head_hash == image.records.back().hash);
  CHECK(image.next_token == *std::max_element(tokens.begin(), tokens.end()) + 1);
  for (const JournalRecord& r : image.records) CHECK(r.node == "node-src");
  REQUIRE(image.tables.size() == image_tables().size());
  CHECK(rows_of(image, "leases").size() == 2);
  CHECK(rows_of(image, "lease_tombstones").size() == 1);
  CHECK(rows_of(image, "lease_requests").size() == 1);
  CHECK(rows_of(image, "memory").size() == 3);
  CHECK(rows_of(image, "escalations").size() == 2);
  CHECK(rows_of(image, "escalation_buckets").size() == 2);
  CHECK(rows_of(image, "agents").size() == 2);
  CHECK(rows_of(image, "tool_requests").size() == 1);
  CHECK(rows_of(image, "fanout_cache").size() == 1);
  CHECK(rows_of(image, "fanout_breakers").size() == 1);

  dst.imaging().import_image(admin(), image);
  // Exported again, the target gives the same image.
  const StateImage back = dst.imaging().export_image(admin());
  CHECK(back.records == image.records);
  CHECK(back.head_seq == image.head_seq);
  CHECK(back.head_hash == image.head_hash);
  CHECK(back.next_token == image.next_token);
  CHECK(sorted_tables(back) == sorted_tables(image));
  // A retried tool call is answered from the copied record (a lookup counts
  // a hit: after the comparison above).
  const RequestClaim retried = dst.s().claim_request(agent("alice"), "memory_put", "put-1", "hash-1");
  CHECK(retried.status == RequestClaim::Status::kReplay);
  CHECK(retried.result_json == R"({"version":1})");
  const auto hit = dst.s().fanout_cache_lookup(agent("alice"), {"digest-1"});
  REQUIRE(hit.size() == 1);
  CHECK(hit[0].has_value());
  const std::vector<FanoutBreaker> breakers = dst.s().fanout_breakers(agent("alice"));
  REQUIRE(breakers.size() == 1);
  CHECK(breakers[0].state == "open");

  check_copy(src.s(), dst.s(), *clock, image, tokens);
  // New records name the target's node; the copied ones kept the source's.
  const std::vector<JournalRecord> after = whole_journal(dst.s());
  CHECK(after.front().node == "node-src");
  CHECK(after.back().node == "node-dst");
  // The other project was left alone.
  CHECK(dst.s().list_leases(zed, "").size() == 1);
}

TEST_CASE("pg store copy: an import into a project that holds anything is refused",
          "[pg][copy]") {
  const std::optional<std::string> url = test_store_url();
  if (!url) {
    WARN("KEEL_TEST_STORE_URL is unset: the PostgreSQL store-copy tests are skipped");
    return;
  }
  auto clock = std::make_shared<ManualClock>();
  PgSide src(*url, "node-src", clock);
  write_project(src.s(), *clock);
  const StateImage image = src.imaging().export_image(admin());

  // The same project already there (the copy run twice).
  PgSide dst(*url, "node-dst", clock);
  dst.imaging().import_image(admin(), image);
  REQUIRE_STORE_ERROR(dst.imaging().import_image(admin(), image), ErrorCode::kInvalidArgument);
  CHECK(whole_journal(dst.s()).size() == image.records.size());

  // A project with one memory row only.
  PgSide busy(*url, "node-dst", clock);
  busy.s().memory_put(agent("alice"), put("k", json::string("v")));
  const std::int64_t before = static_cast<std::int64_t>(whole_journal(busy.s()).size());
  REQUIRE_STORE_ERROR(busy.imaging().import_image(admin(), image), ErrorCode::kInvalidArgument);
  CHECK(static_cast<std::int64_t>(whole_journal(busy.s()).size()) == before);
  CHECK(busy.s().journal_verify(admin()).ok);

  PgSide empty(*url, "node-dst", clock);
  // Not an admin; another project's image; text PostgreSQL cannot hold.
  REQUIRE_STORE_ERROR(empty.imaging().import_image(agent("alice"), image),
                      ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(empty.imaging().import_image(admin("human", "/elsewhere"), image),
                      ErrorCode::kInvalidArgument);
  StateImage bad = image;
  bad.records.back().payload += std::string("\0x", 2);
  REQUIRE_STORE_ERROR(empty.imaging().import_image(admin(), bad), ErrorCode::kInvalidArgument);
  StateImage narrow = image;
  narrow.tables.back().rows.front().pop_back();
  REQUIRE_STORE_ERROR(empty.imaging().import_image(admin(), narrow),
                      ErrorCode::kInvalidArgument);
  CHECK(whole_journal(empty.s()).empty());
  // Nothing of the refused imports stuck: the image still goes in.
  empty.imaging().import_image(admin(), image);
  CHECK(empty.s().journal_verify(admin()).ok);
  CHECK(empty.s().journal_replay(admin()).equal);

  // Escalation ids are unique in the whole database: an id another project
  // of the target already holds is refused, and nothing is written.
  PgSide crowded(*url, "node-dst", clock);
  const auto other = crowded.s().request_escalation(agent("zed", "s9", "/other"), ask("mine"));
  REQUIRE(other.escalation);
  const auto& ids = rows_of(image, "escalations");
  REQUIRE(std::find_if(ids.begin(), ids.end(), [&](const std::vector<Cell>& row) {
            return row.front() == Cell(other.escalation->id);
          }) != ids.end());
  REQUIRE_STORE_ERROR(crowded.imaging().import_image(admin(), image),
                      ErrorCode::kInvalidArgument);
  CHECK(whole_journal(crowded.s()).empty());
  for (const TableImage& t : crowded.imaging().export_image(admin()).tables) {
    INFO(t.table);
    CHECK(t.rows.empty());
  }
}

TEST_CASE("store copy: SQLite -> PostgreSQL -> SQLite keeps the project", "[pg][copy]") {
  const std::optional<std::string> url = test_store_url();
  if (!url) {
    WARN("KEEL_TEST_STORE_URL is unset: the PostgreSQL store-copy tests are skipped");
    return;
  }
  auto clock = std::make_shared<ManualClock>();
  TempDir first_dir;
  std::unique_ptr<Store> first = open_sqlite(first_dir, "node-lite", clock);
  auto* first_imaging = dynamic_cast<StoreImaging*>(first.get());
  if (first_imaging == nullptr) {
    WARN("the SQLite store does not offer StoreImaging yet: round trip skipped");
    return;
  }
  const std::vector<std::int64_t> tokens = write_project(*first, *clock);
  const StateImage image = first_imaging->export_image(admin());

  PgSide pg(*url, "node-pg", clock);
  pg.imaging().import_image(admin(), image);
  CHECK(sorted_tables(pg.imaging().export_image(admin())) == sorted_tables(image));
  check_copy(*first, pg.s(), *clock, image, tokens);

  // And back, with what was written on PostgreSQL.
  const StateImage from_pg = pg.imaging().export_image(admin());
  TempDir last_dir;
  std::unique_ptr<Store> last = open_sqlite(last_dir, "node-lite2", clock);
  auto* last_imaging = dynamic_cast<StoreImaging*>(last.get());
  REQUIRE(last_imaging != nullptr);
  last_imaging->import_image(admin(), from_pg);
  CHECK(whole_journal(*last) == whole_journal(pg.s()));
  CHECK(last->journal_verify(admin()).ok);
  CHECK(last->journal_replay(admin()).equal);
  CHECK(last->list_leases(agent("alice"), "") == pg.s().list_leases(agent("alice"), ""));
  const AcquireResult next = last->acquire_lease(agent("dave", "s4"), acquire("file:/src/e.cpp"));
  REQUIRE(next.granted);
  CHECK(next.lease->token == from_pg.next_token);
  SearchRequest search;
  search.query = "rotation";
  CHECK(last->memory_search(agent("alice"), search).size() == 1);
}

TEST_CASE("pg store copy: a compacted chain copies and goes on", "[pg][copy]") {
  const std::optional<std::string> url = test_store_url();
  if (!url) {
    WARN("KEEL_TEST_STORE_URL is unset: the PostgreSQL store-copy tests are skipped");
    return;
  }
  auto clock = std::make_shared<ManualClock>();
  PgSide src(*url, "node-src", clock);
  write_project(src.s(), *clock);
  const CompactReport compacted = src.s().journal_compact(admin());
  REQUIRE(compacted.checkpoint_seq > 1);
  const AcquireResult later = src.s().acquire_lease(agent("carol", "s3"), acquire("file:/later"));
  REQUIRE(later.granted);
  const StateImage image = src.imaging().export_image(admin());
  REQUIRE(image.records.size() >= 2);
  CHECK(image.records.front().seq == compacted.checkpoint_seq);
  CHECK(image.records.front().op == ops::kCheckpoint);

  PgSide dst(*url, "node-dst", clock);
  dst.imaging().import_image(admin(), image);
  CHECK(whole_journal(dst.s()) == whole_journal(src.s()));
  const VerifyReport verify = dst.s().journal_verify(admin());
  INFO((verify.first_bad ? verify.first_bad->detail : std::string()));
  CHECK(verify.ok);
  CHECK(dst.s().journal_replay(admin()).equal);
  CHECK(dst.s().list_leases(agent("alice"), "") == src.s().list_leases(agent("alice"), ""));
  const AcquireResult next = dst.s().acquire_lease(agent("dave", "s4"), acquire("file:/next"));
  REQUIRE(next.granted);
  CHECK(next.lease->token == later.lease->token + 1);
  // The target compacts its copy again.
  CHECK(dst.s().journal_compact(admin()).checkpoint_seq == image.head_seq + 2);
  CHECK(dst.s().journal_verify(admin()).ok);
}

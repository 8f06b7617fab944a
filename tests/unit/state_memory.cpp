// Memory semantics of the SQLite store: CAS, TTL, namespaces, limits, list,
// search, sessions and fencing.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;

namespace {

PutRequest put(const std::string& key, json::value value, Namespace ns = Namespace::kOwn,
               Tier tier = Tier::kCrossRun) {
  PutRequest r;
  r.key = key;
  r.value = std::move(value);
  r.ns = ns;
  r.tier = tier;
  return r;
}

std::size_t count_records(Store& s, std::string_view op) {
  return journal_records(s, op).size();
}

}  // namespace

TEST_CASE("memory: put/get with versions and CAS", "[state][memory]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");

  CHECK_FALSE(s.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "k").found);
  PutRequest r = put("k", json::parse(R"({"x":1})"));
  r.expected_version = 0;
  CHECK(s.memory_put(a, r).version == 1);
  REQUIRE_STORE_ERROR(s.memory_put(a, r), ErrorCode::kVersionMismatch);  // must not exist
  r.expected_version = 1;
  r.value = json::parse(R"({"x":2})");
  CHECK(s.memory_put(a, r).version == 2);
  r.expected_version = 1;
  try {
    s.memory_put(a, r);
    FAIL("expected a version mismatch");
  } catch (const StoreError& e) {
    CHECK(e.code() == ErrorCode::kVersionMismatch);
    CHECK(std::string(e.what()).find("current version is 2") != std::string::npos);
  }
  r.expected_version.reset();
  CHECK(s.memory_put(a, r).version == 3);

  const GetResult g = s.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "k");
  REQUIRE(g.found);
  CHECK(g.version == 3);
  CHECK(g.value == json::parse(R"({"x":2})"));
  CHECK(g.updated_at_ms == env.clock->now_ms());
  CHECK_FALSE(g.expires_at_ms);

  // Delete with CAS, then idempotent.
  DeleteRequest d;
  d.key = "k";
  d.expected_version = 2;
  REQUIRE_STORE_ERROR(s.memory_delete(a, d), ErrorCode::kVersionMismatch);
  d.expected_version = 3;
  CHECK(s.memory_delete(a, d));
  d.expected_version.reset();
  CHECK_FALSE(s.memory_delete(a, d));
  CHECK(s.memory_put(a, put("k", 1)).version == 1);  // versions restart after delete

  CHECK(count_records(s, ops::kMemoryPut) == 4);
  CHECK(count_records(s, ops::kMemoryDelete) == 1);
  const std::optional<JournalRecord> last = newest_record(s, ops::kMemoryPut);
  REQUIRE(last);
  CHECK(last->subject == "memory:cross_run/agent:alice/k");
  const json::object payload = json::parse(last->payload).as_object();
  CHECK(payload.at("version").as_int64() == 1);
  CHECK(payload.at("bytes").as_int64() == 1);
  CHECK(payload.at("sha256").as_string().size() == 64);
  CHECK(payload.if_contains("value") == nullptr);
}

TEST_CASE("memory: TTL expiry", "[state][memory]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  PutRequest r = put("temp", "v");
  r.ttl_ms = 1000;
  const PutResult pr = s.memory_put(a, r);
  REQUIRE(pr.expires_at_ms);
  CHECK(*pr.expires_at_ms == env.clock->now_ms() + 1000);
  env.clock->advance(999);
  CHECK(s.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "temp").found);
  SearchRequest sr;
  sr.query = "temp";
  CHECK(s.memory_search(a, sr).size() == 1);
  env.clock->advance(1);
  CHECK_FALSE(s.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "temp").found);
  ListRequest lr;
  CHECK(s.memory_list(a, lr).entries.empty());
  CHECK(s.memory_search(a, sr).empty());
  // Treated as absent by put: expected_version 0 succeeds, version restarts.
  r.expected_version = 0;
  r.ttl_ms.reset();
  CHECK(s.memory_put(a, r).version == 1);
  PutRequest bad = put("y", 1);
  bad.ttl_ms = 0;
  REQUIRE_STORE_ERROR(s.memory_put(a, bad), ErrorCode::kInvalidArgument);
}

TEST_CASE_METHOD(AliceAndBob, "memory: namespace isolation", "[state][memory]") {
  s.memory_put(a, put("secret", json::parse(R"({"note":"alpha bravo"})")));
  s.memory_put(a, put("pub", json::parse(R"({"note":"alpha charlie"})"), Namespace::kShared));

  CHECK_FALSE(s.memory_get(b, Tier::kCrossRun, Namespace::kOwn, "secret").found);
  CHECK(s.memory_get(b, Tier::kCrossRun, Namespace::kShared, "pub").found);
  CHECK(s.memory_get(a, Tier::kCrossRun, Namespace::kShared, "pub").found);
  CHECK(s.memory_list(b, ListRequest{}).entries.empty());
  ListRequest shared;
  shared.ns = Namespace::kShared;
  CHECK(s.memory_list(b, shared).entries.size() == 1);

  SearchRequest q;
  q.query = "alpha";
  const auto hb = s.memory_search(b, q);
  REQUIRE(hb.size() == 1);
  CHECK(hb[0].key == "pub");
  CHECK(hb[0].ns == Namespace::kShared);
  CHECK(s.memory_search(a, q).size() == 2);

  // Bob writes his own "secret": independent of Alice's.
  CHECK(s.memory_put(b, put("secret", 42)).version == 1);
  CHECK(s.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "secret").value.is_object());
  // Another project sees nothing.
  CHECK_FALSE(s.memory_get(agent("bob", "s1", "/elsewhere"), Tier::kCrossRun, Namespace::kShared,
                           "pub")
                  .found);
}

TEST_CASE("memory: capabilities", "[state][memory]") {
  StoreEnv env;
  Store& s = *env.store;
  Principal p = agent("alice");
  p.capabilities.erase(std::string(caps::kMemoryShared));
  REQUIRE_STORE_ERROR(s.memory_put(p, put("k", 1, Namespace::kShared)),
                      ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(s.memory_get(p, Tier::kCrossRun, Namespace::kShared, "k"),
                      ErrorCode::kPermissionDenied);
  SearchRequest q;
  q.query = "k";
  q.ns = Namespace::kShared;
  REQUIRE_STORE_ERROR(s.memory_search(p, q), ErrorCode::kPermissionDenied);
  q.ns.reset();
  CHECK(s.memory_search(p, q).empty());  // searches only what it may see
  CHECK(s.memory_put(p, put("k", 1)).version == 1);

  Principal q2 = agent("alice");
  q2.capabilities.erase(std::string(caps::kMemoryCrossRun));
  REQUIRE_STORE_ERROR(s.memory_put(q2, put("k", 1)), ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(s.memory_list(q2, ListRequest{}), ErrorCode::kPermissionDenied);
  DeleteRequest d;
  d.key = "k";
  REQUIRE_STORE_ERROR(s.memory_delete(q2, d), ErrorCode::kPermissionDenied);
  Principal q3 = agent("alice");
  q3.capabilities.erase(std::string(caps::kMemorySession));
  REQUIRE_STORE_ERROR(s.memory_put(q3, put("k", 1, Namespace::kOwn, Tier::kSession)),
                      ErrorCode::kPermissionDenied);
}

TEST_CASE("memory: key and value limits", "[state][memory]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  REQUIRE_STORE_ERROR(s.memory_put(a, put("", 1)), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.memory_put(a, put(std::string("a\0b", 3), 1)),
                      ErrorCode::kInvalidArgument);
  CHECK(s.memory_put(a, put(std::string(512, 'k'), 1)).version == 1);
  REQUIRE_STORE_ERROR(s.memory_put(a, put(std::string(513, 'k'), 1)), ErrorCode::kTooLarge);
  // 64 KiB serialized: a string of n chars serializes to n + 2 bytes.
  CHECK(s.memory_put(a, put("big", json::string(std::string(64 * 1024 - 2, 'v')))).version == 1);
  REQUIRE_STORE_ERROR(s.memory_put(a, put("big", json::string(std::string(64 * 1024 - 1, 'v')))),
                      ErrorCode::kTooLarge);
  CHECK(s.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "big").version == 1);
}

TEST_CASE("memory: list by prefix with pagination", "[state][memory]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  for (int i = 0; i < 250; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "notes/%03d", i);
    s.memory_put(a, put(key, i));
  }
  s.memory_put(a, put("notes", 0));
  s.memory_put(a, put("notes0", 0));
  s.memory_put(a, put("other/1", 0));
  s.memory_put(a, put("notes_%", 0));  // LIKE wildcards are not wildcards here

  ListRequest r;
  r.prefix = "notes/";
  std::vector<std::string> keys;
  int pages = 0;
  for (;;) {
    const ListResult page = s.memory_list(a, r);
    ++pages;
    for (const ListEntry& e : page.entries) keys.push_back(e.key);
    if (page.next_cursor.empty()) break;
    CHECK(page.entries.size() == 100);
    r.cursor = page.next_cursor;
  }
  CHECK(pages == 3);
  REQUIRE(keys.size() == 250);
  CHECK(std::is_sorted(keys.begin(), keys.end()));
  CHECK(keys.front() == "notes/000");
  CHECK(keys.back() == "notes/249");

  ListRequest small;
  small.prefix = "notes_";
  REQUIRE(s.memory_list(a, small).entries.size() == 1);
  CHECK(s.memory_list(a, small).entries[0].key == "notes_%");
  ListRequest limited;
  limited.limit = 5000;  // capped at the maximum page size
  CHECK(s.memory_list(a, limited).entries.size() == 254);
  limited.limit = 7;
  const ListResult lp = s.memory_list(a, limited);
  CHECK(lp.entries.size() == 7);
  CHECK_FALSE(lp.next_cursor.empty());
  CHECK(lp.entries[0].bytes == 1);

  ListRequest bad;
  bad.cursor = "garbage!";
  REQUIRE_STORE_ERROR(s.memory_list(a, bad), ErrorCode::kInvalidArgument);
  bad.cursor = "k1.zz";
  REQUIRE_STORE_ERROR(s.memory_list(a, bad), ErrorCode::kInvalidArgument);
}

TEST_CASE("memory: search by words in nested JSON, safe against FTS syntax", "[state][memory]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  s.memory_put(a, put("db/schema", json::parse(
                                       R"({"tables":[{"name":"users","notes":["primary key is uuid"]}],
                                           "owner":{"team":"platform"}})")));
  s.memory_put(a, put("deploy", json::parse(R"({"steps":["build","ship to staging"]})")));
  s.memory_put(a, put("misc", json::parse(R"({"n":12345})")));

  SearchRequest q;
  q.query = "uuid";
  auto hits = s.memory_search(a, q);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].key == "db/schema");
  CHECK(hits[0].value.as_object().at("owner").as_object().at("team") == "platform");
  CHECK(hits[0].score > 0);

  q.query = "platform users";  // AND of words
  CHECK(s.memory_search(a, q).size() == 1);
  q.query = "platform staging";
  CHECK(s.memory_search(a, q).empty());
  q.query = "schema";  // the key is indexed
  CHECK(s.memory_search(a, q).size() == 1);
  q.query = "STAGING";
  CHECK(s.memory_search(a, q).size() == 1);

  for (const char* nasty : {"\"", "*", "(", ")", "NEAR", "NEAR(a b)", "a OR", "AND", "\"unterminated",
                            "col:uuid", "^uuid", "uuid*", "-", "a\"b", "{x}", "NOT uuid", "+"}) {
    SearchRequest n;
    n.query = nasty;
    INFO(nasty);
    CHECK_NOTHROW(s.memory_search(a, n));
  }
  q.query = "uuid)";
  CHECK(s.memory_search(a, q).size() == 1);

  SearchRequest empty;
  empty.query = "   ";
  REQUIRE_STORE_ERROR(s.memory_search(a, empty), ErrorCode::kInvalidArgument);

  // Updated values are re-indexed; deleted ones vanish.
  s.memory_put(a, put("deploy", json::parse(R"({"steps":["rollback"]})")));
  q.query = "staging";
  CHECK(s.memory_search(a, q).empty());
  q.query = "rollback";
  CHECK(s.memory_search(a, q).size() == 1);
  DeleteRequest d;
  d.key = "deploy";
  s.memory_delete(a, d);
  CHECK(s.memory_search(a, q).empty());
}

TEST_CASE("memory: session tier and end_session", "[state][memory]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a1 = agent("alice", "s1");
  const Principal a2 = agent("alice", "s2");
  const Principal b = agent("bob", "s9");

  s.memory_put(a1, put("scratch", "one", Namespace::kOwn, Tier::kSession));
  s.memory_put(a1, put("team", "shared-session", Namespace::kShared, Tier::kSession));
  s.memory_put(a1, put("durable", "kept"));
  CHECK(s.memory_get(a1, Tier::kSession, Namespace::kOwn, "scratch").found);
  CHECK_FALSE(s.memory_get(a2, Tier::kSession, Namespace::kOwn, "scratch").found);
  CHECK(s.memory_get(b, Tier::kSession, Namespace::kShared, "team").found);

  Principal nosession = agent("alice", "");
  REQUIRE_STORE_ERROR(s.memory_put(nosession, put("x", 1, Namespace::kOwn, Tier::kSession)),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.end_session(nosession), ErrorCode::kInvalidArgument);

  s.end_session(a1);
  CHECK_FALSE(s.memory_get(a1, Tier::kSession, Namespace::kOwn, "scratch").found);
  CHECK_FALSE(s.memory_get(b, Tier::kSession, Namespace::kShared, "team").found);
  CHECK(s.memory_get(a1, Tier::kCrossRun, Namespace::kOwn, "durable").found);
  JournalFilter f;
  f.op = std::string(ops::kSessionEnd);
  const auto ends = s.journal_query(admin(), f);
  REQUIRE(ends.size() == 1);
  CHECK(json::parse(ends[0].payload).as_object().at("count").as_int64() == 2);
}

TEST_CASE("memory: orphaned session rows are dropped at open", "[state][memory]") {
  StoreEnv env;
  const Principal a = agent("alice", "s1");
  env.store->memory_put(a, put("old", 1, Namespace::kOwn, Tier::kSession));
  env.store->memory_put(a, put("keep", 1));
  env.clock->advance(25LL * 3600 * 1000);
  env.reopen();
  CHECK_FALSE(env.store->memory_get(a, Tier::kSession, Namespace::kOwn, "old").found);
  CHECK(env.store->memory_get(a, Tier::kCrossRun, Namespace::kOwn, "keep").found);
  CHECK(env.store->journal_verify(admin()).ok);
}

TEST_CASE_METHOD(AliceAndBob, "memory: fencing", "[state][memory]") {
  const AcquireResult la = s.acquire_lease(a, acquire("file:/cfg.json", 1000));
  REQUIRE(la.granted);
  PutRequest r = put("cfg", "from-alice");
  r.fence = Fence{"file:/cfg.json", la.lease->token};
  CHECK(s.memory_put(a, r).version == 1);

  // Fence held by someone else, or a wrong token: refused.
  PutRequest rb = put("cfg", "bob-with-alice-token", Namespace::kShared);
  rb.fence = Fence{"file:/cfg.json", la.lease->token};
  REQUIRE_STORE_ERROR(s.memory_put(b, rb), ErrorCode::kStaleFence);
  r.fence->token += 1000;
  REQUIRE_STORE_ERROR(s.memory_put(a, r), ErrorCode::kStaleFence);

  // Alice's lease expires, Bob takes it; Alice's old token is stale.
  env.clock->advance(1000);
  const AcquireResult lb = s.acquire_lease(b, acquire("file:/cfg.json"));
  REQUIRE(lb.granted);
  CHECK(lb.lease->token > la.lease->token);
  PutRequest shared = put("cfg", "bob", Namespace::kShared);
  shared.fence = Fence{"file:/cfg.json", lb.lease->token};
  CHECK(s.memory_put(b, shared).version == 1);

  const std::size_t refusals_before = count_records(s, ops::kRefuse);
  const std::size_t puts_before = count_records(s, ops::kMemoryPut);
  PutRequest stale = put("cfg", "alice-stale", Namespace::kShared);
  stale.fence = Fence{"file:/cfg.json", la.lease->token};
  REQUIRE_STORE_ERROR(s.memory_put(a, stale), ErrorCode::kStaleFence);
  CHECK(count_records(s, ops::kRefuse) == refusals_before + 1);
  CHECK(count_records(s, ops::kMemoryPut) == puts_before);
  const GetResult g = s.memory_get(a, Tier::kCrossRun, Namespace::kShared, "cfg");
  CHECK(g.value == "bob");
  CHECK(g.version == 1);

  const std::optional<JournalRecord> last = newest_record(s, ops::kRefuse);
  REQUIRE(last);
  CHECK(last->subject == "memory:cross_run/shared/cfg");
  CHECK(json::parse(last->payload).as_object().at("reason") == "stale_fence");

  // Deletes are fenced too.
  DeleteRequest d;
  d.ns = Namespace::kShared;
  d.key = "cfg";
  d.fence = Fence{"file:/cfg.json", la.lease->token};
  REQUIRE_STORE_ERROR(s.memory_delete(a, d), ErrorCode::kStaleFence);
  CHECK(s.memory_get(a, Tier::kCrossRun, Namespace::kShared, "cfg").found);
  d.fence = Fence{"file:/cfg.json", lb.lease->token};
  CHECK(s.memory_delete(b, d));
  CHECK(s.journal_verify(admin()).ok);
}

TEST_CASE("memory: a key refuses a token older than one it accepted", "[state][memory]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  // Alice holds two live leases; the key accepts the newer token, then
  // refuses the older one.
  const AcquireResult l1 = s.acquire_lease(a, acquire("lock-1"));
  const AcquireResult l2 = s.acquire_lease(a, acquire("lock-2"));
  PutRequest r = put("k", 1);
  r.fence = Fence{"lock-2", l2.lease->token};
  CHECK(s.memory_put(a, r).version == 1);
  r.fence = Fence{"lock-1", l1.lease->token};
  REQUIRE_STORE_ERROR(s.memory_put(a, r), ErrorCode::kStaleFence);
  CHECK(s.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "k").version == 1);
}

// memory_txn (issue 20, the drift check): compares of versions, values
// within a tolerance and lease tokens; the then / else branch applied in one
// transaction with one MEMORY_TXN record; nothing when the branch is empty;
// bad requests; and read-compare-increment under contention from threads on
// two stores, which never loses an increment nor applies a then whose
// compare was false. Runs on both backends.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <limits>

#include <boost/json.hpp>

#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;

namespace {

PutRequest put(const std::string& key, json::value value) {
  PutRequest r;
  r.key = key;
  r.value = std::move(value);
  return r;
}

TxnCompare version_is(const std::string& key, std::int64_t version) {
  TxnCompare c;
  c.kind = TxnCompare::Kind::kVersion;
  c.key = key;
  c.version = version;
  return c;
}

TxnCompare value_is(const std::string& key, json::value value, double tolerance = 0) {
  TxnCompare c;
  c.kind = TxnCompare::Kind::kValue;
  c.key = key;
  c.value = std::move(value);
  c.tolerance = tolerance;
  return c;
}

TxnCompare lease_token_is(const std::string& name, std::int64_t token) {
  TxnCompare c;
  c.kind = TxnCompare::Kind::kLease;
  c.lease_name = name;
  c.token = token;
  return c;
}

TxnOp put_op(const std::string& key, json::value value, Namespace ns = Namespace::kOwn) {
  TxnOp op;
  op.kind = TxnOp::Kind::kPut;
  op.key = key;
  op.value = std::move(value);
  op.ns = ns;
  return op;
}

TxnOp delete_op(const std::string& key) {
  TxnOp op;
  op.kind = TxnOp::Kind::kDelete;
  op.key = key;
  return op;
}

GetResult get(Store& s, const Principal& p, const std::string& key,
              Namespace ns = Namespace::kOwn) {
  return s.memory_get(p, Tier::kCrossRun, ns, key);
}

}  // namespace

TEST_CASE_METHOD(AliceAndBob, "memory_txn: compares that hold apply then, in one record",
                 "[state][memory][memory-txn]") {
  s.memory_put(a, put("plan", json::parse(R"({"step":1})")));
  s.memory_put(a, put("old", 1));
  const std::size_t records_before = journal_records(s).size();

  TxnRequest r;
  r.compare = {version_is("plan", 1), version_is("absent", 0),
               value_is("plan", json::parse(R"({"step":1})"))};
  r.then_ops = {put_op("plan", json::parse(R"({"step":2})")), put_op("new", "x"),
                delete_op("old"), delete_op("absent")};
  r.else_ops = {put_op("conflict", true)};
  const TxnResult got = s.memory_txn(a, r);
  CHECK(got.succeeded);
  CHECK(got.compare_held == std::vector<bool>{true, true, true});
  REQUIRE(got.results.size() == 4);
  CHECK(got.results[0].kind == TxnOp::Kind::kPut);
  CHECK(got.results[0].key == "plan");
  CHECK(got.results[0].version == 2);
  CHECK(got.results[1].version == 1);
  CHECK(got.results[2].kind == TxnOp::Kind::kDelete);
  CHECK(got.results[2].deleted);
  CHECK_FALSE(got.results[3].deleted);
  CHECK(got.journal_seq > 0);

  CHECK(get(s, a, "plan").value == json::parse(R"({"step":2})"));
  CHECK(get(s, a, "new").found);
  CHECK_FALSE(get(s, a, "old").found);
  CHECK_FALSE(get(s, a, "conflict").found);

  // One record for the whole transaction, and no per-key records.
  const std::vector<JournalRecord> after = journal_records(s);
  REQUIRE(after.size() == records_before + 1);
  const JournalRecord& rec = after.back();
  CHECK(rec.op == ops::kMemoryTxn);
  CHECK(rec.seq == got.journal_seq);
  CHECK(rec.principal == "alice");
  const json::object payload = json::parse(rec.payload).as_object();
  CHECK(payload.at("succeeded") == true);
  CHECK(payload.at("compares").as_array().size() == 3);
  const json::array& ops_done = payload.at("ops").as_array();
  REQUIRE(ops_done.size() == 4);
  CHECK(ops_done[0].at("op") == "put");
  CHECK(ops_done[0].at("key") == "plan");
  CHECK(ops_done[0].at("version") == 2);
  CHECK(ops_done[0].at("namespace") == "agent:alice");
  CHECK(ops_done[0].as_object().contains("value_sha256"));
  CHECK(ops_done[2].at("op") == "delete");
  CHECK(ops_done[2].at("deleted") == true);
  CHECK(ops_done[3].at("deleted") == false);
  CHECK(s.journal_verify(admin()).ok);
}

TEST_CASE_METHOD(AliceAndBob, "memory_txn: a compare that fails runs else",
                 "[state][memory][memory-txn]") {
  s.memory_put(a, put("k", 1));
  s.memory_put(a, put("k", 2));
  TxnRequest r;
  r.compare = {version_is("k", 2), version_is("k", 1), value_is("k", 2)};
  r.then_ops = {put_op("k", 100)};
  r.else_ops = {put_op("stale", json::object{{"saw", 1}})};
  const TxnResult got = s.memory_txn(a, r);
  CHECK_FALSE(got.succeeded);
  CHECK(got.compare_held == std::vector<bool>{true, false, true});
  REQUIRE(got.results.size() == 1);
  CHECK(got.results[0].key == "stale");
  CHECK(got.journal_seq > 0);
  CHECK(get(s, a, "k").value == 2);
  CHECK(get(s, a, "stale").found);
  const std::optional<JournalRecord> rec = newest_record(s, ops::kMemoryTxn);
  REQUIRE(rec);
  CHECK(json::parse(rec->payload).at("succeeded") == false);

  // An expired key compares as absent (version 0, no value).
  PutRequest brief = put("brief", 5);
  brief.ttl_ms = 100;
  s.memory_put(a, brief);
  env.clock->advance(100);
  TxnRequest gone;
  gone.compare = {version_is("brief", 0)};
  gone.then_ops = {put_op("brief", 6)};
  const TxnResult recreated = s.memory_txn(a, gone);
  CHECK(recreated.succeeded);
  CHECK(recreated.results.at(0).version == 1);
  TxnRequest by_value;
  by_value.compare = {value_is("never", json::value(nullptr))};
  CHECK(s.memory_txn(a, by_value).compare_held == std::vector<bool>{false});
}

TEST_CASE_METHOD(AliceAndBob, "memory_txn: values compare with a numeric tolerance",
                 "[state][memory][memory-txn]") {
  s.memory_put(a, put("reading", json::parse(R"({"temp":20.5,"unit":"C","hist":[1,2]})")));
  auto holds = [&](json::value expected, double tolerance) {
    TxnRequest r;
    r.compare = {value_is("reading", std::move(expected), tolerance)};
    return s.memory_txn(a, r).succeeded;
  };
  CHECK(holds(json::parse(R"({"unit":"C","hist":[1,2],"temp":20.5})"), 0));  // field order
  CHECK_FALSE(holds(json::parse(R"({"temp":20.6,"unit":"C","hist":[1,2]})"), 0));
  CHECK(holds(json::parse(R"({"temp":20.6,"unit":"C","hist":[1,2]})"), 0.2));
  CHECK(holds(json::parse(R"({"temp":20.5,"unit":"C","hist":[1.1,1.9]})"), 0.2));
  CHECK_FALSE(holds(json::parse(R"({"temp":21,"unit":"C","hist":[1,2]})"), 0.2));
  CHECK_FALSE(holds(json::parse(R"({"temp":20.5,"unit":"F","hist":[1,2]})"), 100));
  CHECK_FALSE(holds(json::parse(R"({"temp":20.5,"unit":"C"})"), 100));

  TxnRequest bad;
  bad.compare = {value_is("reading", 1, -0.5)};
  REQUIRE_STORE_ERROR(s.memory_txn(a, bad), ErrorCode::kInvalidArgument);
  bad.compare = {value_is("reading", 1, std::numeric_limits<double>::quiet_NaN())};
  REQUIRE_STORE_ERROR(s.memory_txn(a, bad), ErrorCode::kInvalidArgument);
  // Nothing was applied, so nothing was journaled.
  CHECK(journal_records(s, ops::kMemoryTxn).empty());
}

TEST_CASE_METHOD(AliceAndBob, "memory_txn: a lease token compare holds while that lease lives",
                 "[state][memory][memory-txn]") {
  const AcquireResult held = s.acquire_lease(b, acquire("file:/repo/a.txt", 1000));
  REQUIRE(held.granted);
  const std::int64_t token = held.lease->token;

  TxnRequest r;
  r.compare = {lease_token_is("file:/repo//x/../a.txt", token)};  // normalized like acquire
  r.then_ops = {put_op("owner", "bob")};
  CHECK(s.memory_txn(a, r).succeeded);  // any agent may check another's lease
  r.compare = {lease_token_is("file:/repo/a.txt", token + 1)};
  CHECK_FALSE(s.memory_txn(a, r).succeeded);
  r.compare = {lease_token_is("file:/repo/b.txt", token)};
  CHECK_FALSE(s.memory_txn(a, r).succeeded);

  env.clock->advance(1000);  // expired
  r.compare = {lease_token_is("file:/repo/a.txt", token)};
  CHECK_FALSE(s.memory_txn(a, r).succeeded);

  const AcquireResult again = s.acquire_lease(b, acquire("file:/repo/a.txt"));
  REQUIRE(again.granted);
  CHECK_FALSE(s.memory_txn(a, r).succeeded);  // the old token, a new lease
  REQUIRE(s.release_lease(b, "file:/repo/a.txt", again.lease->lease_id) ==
          ReleaseOutcome::kReleased);
  r.compare = {lease_token_is("file:/repo/a.txt", again.lease->token)};
  CHECK_FALSE(s.memory_txn(a, r).succeeded);

  TxnRequest bad;
  bad.compare = {lease_token_is("file:relative", 1)};
  REQUIRE_STORE_ERROR(s.memory_txn(a, bad), ErrorCode::kInvalidArgument);
  CHECK(journal_records(s, ops::kMemoryTxn).size() == 1);
}

TEST_CASE_METHOD(AliceAndBob, "memory_txn: an empty branch writes and journals nothing",
                 "[state][memory][memory-txn]") {
  s.memory_put(a, put("k", 1));
  const std::size_t records_before = journal_records(s).size();
  TxnRequest r;
  r.compare = {version_is("k", 7)};
  r.then_ops = {put_op("k", 2)};
  const TxnResult failed = s.memory_txn(a, r);
  CHECK_FALSE(failed.succeeded);
  CHECK(failed.compare_held == std::vector<bool>{false});
  CHECK(failed.results.empty());
  CHECK(failed.journal_seq == 0);

  TxnRequest only_compare;
  only_compare.compare = {version_is("k", 1)};
  const TxnResult held = s.memory_txn(a, only_compare);
  CHECK(held.succeeded);
  CHECK(held.journal_seq == 0);

  const TxnResult nothing = s.memory_txn(a, TxnRequest{});
  CHECK(nothing.succeeded);  // no compares: true
  CHECK(nothing.compare_held.empty());
  CHECK(nothing.journal_seq == 0);

  CHECK(journal_records(s).size() == records_before);
  CHECK(get(s, a, "k").version == 1);
}

TEST_CASE_METHOD(AliceAndBob, "memory_txn: ops in order, TTLs, namespaces and sizes",
                 "[state][memory][memory-txn]") {
  TxnRequest r;
  TxnOp brief = put_op("brief", 1);
  brief.ttl_ms = 500;
  r.then_ops = {put_op("k", 1), put_op("k", 2), delete_op("k"), put_op("k", 3), brief,
                put_op("board", "shared", Namespace::kShared)};
  const TxnResult got = s.memory_txn(a, r);
  REQUIRE(got.results.size() == 6);
  CHECK(got.results[1].version == 2);
  CHECK(got.results[2].deleted);
  CHECK(got.results[3].version == 1);  // re-created after the delete
  CHECK(got.results[4].expires_at_ms == env.clock->now_ms() + 500);
  CHECK(get(s, a, "k").value == 3);
  CHECK(get(s, b, "board", Namespace::kShared).value == "shared");
  env.clock->advance(500);
  CHECK_FALSE(get(s, a, "brief").found);
  // The writes are visible to search and list like memory_put's.
  SearchRequest q;
  q.query = "shared";
  CHECK(s.memory_search(b, q).size() == 1);

  // Limits and checks as memory_put's.
  TxnRequest too_many;
  too_many.compare.assign(kTxnMaxCompares + 1, version_is("k", 1));
  REQUIRE_STORE_ERROR(s.memory_txn(a, too_many), ErrorCode::kInvalidArgument);
  too_many.compare.clear();
  too_many.else_ops.assign(kTxnMaxOps + 1, put_op("k", 1));
  REQUIRE_STORE_ERROR(s.memory_txn(a, too_many), ErrorCode::kInvalidArgument);
  TxnRequest at_limit;
  at_limit.compare.assign(kTxnMaxCompares, version_is("k", 1));
  at_limit.then_ops.assign(kTxnMaxOps, put_op("k", 0));
  CHECK(s.memory_txn(a, at_limit).results.back().version == 1 + kTxnMaxOps);

  TxnRequest bad;
  bad.then_ops = {put_op("", 1)};
  REQUIRE_STORE_ERROR(s.memory_txn(a, bad), ErrorCode::kInvalidArgument);
  bad.then_ops = {put_op(std::string(513, 'k'), 1)};
  REQUIRE_STORE_ERROR(s.memory_txn(a, bad), ErrorCode::kTooLarge);
  bad.then_ops = {put_op("big", json::string(std::string(64 * 1024 - 1, 'v')))};
  REQUIRE_STORE_ERROR(s.memory_txn(a, bad), ErrorCode::kTooLarge);
  TxnOp zero_ttl = put_op("t", 1);
  zero_ttl.ttl_ms = 0;
  bad.then_ops = {zero_ttl};
  REQUIRE_STORE_ERROR(s.memory_txn(a, bad), ErrorCode::kInvalidArgument);
  bad.then_ops.clear();
  bad.compare = {version_is("k", -1)};
  REQUIRE_STORE_ERROR(s.memory_txn(a, bad), ErrorCode::kInvalidArgument);
  bad.compare = {version_is("", 0)};
  REQUIRE_STORE_ERROR(s.memory_txn(a, bad), ErrorCode::kInvalidArgument);

  // Capabilities as memory_get for compared keys, memory_put for written ones.
  Principal no_shared = agent("carol");
  no_shared.capabilities.erase(std::string(caps::kMemoryShared));
  TxnRequest shared_write;
  shared_write.else_ops = {put_op("board", "mine", Namespace::kShared)};
  REQUIRE_STORE_ERROR(s.memory_txn(no_shared, shared_write), ErrorCode::kPermissionDenied);
  TxnRequest shared_read;
  shared_read.compare = {version_is("board", 1)};
  shared_read.compare[0].ns = Namespace::kShared;
  REQUIRE_STORE_ERROR(s.memory_txn(no_shared, shared_read), ErrorCode::kPermissionDenied);
  CHECK(get(s, b, "board", Namespace::kShared).value == "shared");
  CHECK(s.journal_verify(admin()).ok);
}

TEST_CASE("memory_txn: read-compare-increment under contention never loses an increment",
          "[state][memory][memory-txn][concurrency]") {
  StoreEnv env;
  std::unique_ptr<Store> other = open_test_store(env.options());
  Store* stores[2] = {env.store.get(), other.get()};
  constexpr int kThreads = 8;
  constexpr int kAttempts = 60;
  std::atomic<int> successes{0};
  std::atomic<int> refusals{0};
  std::atomic<int> bad_results{0};

  on_agent_threads(kThreads, [&](int t, const Principal& p) {
    Store& store = *stores[t % 2];
    for (int i = 0; i < kAttempts; ++i) {
      const GetResult seen = store.memory_get(p, Tier::kCrossRun, Namespace::kShared, "counter");
      const std::int64_t n = seen.found ? seen.value.as_int64() : 0;
      TxnRequest r;
      TxnCompare c = t % 2 == 0 ? version_is("counter", seen.version)
                                : value_is("counter", json::value(n));
      if (!seen.found) c = version_is("counter", 0);
      c.ns = Namespace::kShared;
      r.compare = {c};
      r.then_ops = {put_op("counter", n + 1, Namespace::kShared)};
      TxnOp log = put_op("log/" + std::to_string(n + 1), json::string(p.agent), Namespace::kShared);
      r.then_ops.push_back(log);
      const TxnResult got = store.memory_txn(p, r);
      if (got.succeeded) {
        ++successes;
        if (got.results.size() != 2 || got.journal_seq == 0) ++bad_results;
      } else {
        ++refusals;
        if (!got.results.empty() || got.journal_seq != 0) ++bad_results;
      }
    }
  });

  CHECK(bad_results == 0);
  CHECK(successes + refusals == kThreads * kAttempts);
  CHECK(successes > 0);
  const Principal reader = agent("reader");
  const GetResult final_count =
      env.store->memory_get(reader, Tier::kCrossRun, Namespace::kShared, "counter");
  REQUIRE(final_count.found);
  CHECK(final_count.value.as_int64() == successes.load());

  // Every MEMORY_TXN record is a then whose compare held, and each wrote the
  // next number: no two transactions acted on the same count.
  const std::vector<JournalRecord> txns = journal_records(*env.store, ops::kMemoryTxn);
  REQUIRE(txns.size() == static_cast<std::size_t>(successes.load()));
  std::int64_t expected_version = 1;
  for (const JournalRecord& rec : txns) {
    const json::object payload = json::parse(rec.payload).as_object();
    CHECK(payload.at("succeeded") == true);
    CHECK(payload.at("compares").as_array().at(0).at("held") == true);
    const json::value& counter_put = payload.at("ops").as_array().at(0);
    CHECK(counter_put.at("key") == "counter");
    CHECK(counter_put.at("version") == expected_version);
    ++expected_version;
  }
  for (int n = 1; n <= successes.load(); ++n) {
    CHECK(env.store
              ->memory_get(reader, Tier::kCrossRun, Namespace::kShared, "log/" + std::to_string(n))
              .version == 1);
  }
  CHECK(env.store->journal_verify(admin()).ok);
  CHECK(other->journal_verify(admin()).ok);
}

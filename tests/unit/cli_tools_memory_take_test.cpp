// The tuple space through the tools (issue 20): memory_take, the waits of
// memory_get / memory_list, memory_txn — schemas, replies and refusals over
// the whole in-process stack (MCP connection -> tools/ -> SQLite store); and
// `keel memory take|txn|get --wait-ms` through the binary.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "cli_test_util.h"
#include "cli_tool_stack.h"

namespace json = boost::json;
using namespace keel::tools::testing;

namespace {

std::string refused(Client& client, const std::string& tool, json::object args) {
  return client.refused(tool, std::move(args)).first;
}

// The tool as tools/list shows it.
json::object tool_of(Client& client, const std::string& name) {
  auto r = client.request("tools/list", {});
  for (const auto& t : r.at("result").at("tools").as_array()) {
    if (t.at("name") == json::value(name)) return t.as_object();
  }
  FAIL("no tool " << name);
  return {};
}

// The structuredContent of a tools/call started with call_async, once its
// thread has ended.
json::object async_result(Client& client, int id) {
  auto r = client.response(id);
  REQUIRE(r.has_value());
  INFO(json::serialize(*r));
  const auto& result = r->at("result").as_object();
  REQUIRE_FALSE(result.at("isError").as_bool());
  return result.at("structuredContent").as_object();
}

json::object put_op(const std::string& key, json::value value) {
  return {{"op", "put"}, {"key", key}, {"value", std::move(value)}};
}

}  // namespace

TEST_CASE("memory_take, memory_txn: schemas derived from their arguments, annotations", "[memory_take]") {
  Stack stack;
  Client a(stack, "agent-a");

  const json::object take = tool_of(a, "memory_take");
  const auto& props = take.at("inputSchema").at("properties").as_object();
  for (const char* p : {"tier", "namespace", "key", "prefix", "match", "wait_ms"}) {
    INFO(p);
    CHECK(props.contains(p));
  }
  CHECK(props.at("match").at("type") == "object");
  CHECK(props.at("wait_ms").at("minimum") == 0);
  CHECK(take.at("inputSchema").at("additionalProperties") == false);
  CHECK(take.at("annotations").at("readOnlyHint") == false);
  CHECK(take.at("annotations").at("destructiveHint") == true);
  const auto& take_out = take.at("outputSchema").at("properties").as_object();
  for (const char* p : {"taken", "key", "value", "version", "created_at", "updated_at", "waited_ms"}) {
    INFO(p);
    CHECK(take_out.contains(p));
  }

  const json::object txn = tool_of(a, "memory_txn");
  const auto& in = txn.at("inputSchema").as_object();
  CHECK(in.at("required") == json::array{"compare", "then"});
  CHECK(in.at("properties").at("else").at("type") == "array");
  CHECK(in.at("properties").at("compare").at("maxItems") == 64);
  CHECK(in.at("properties").at("then").at("items").at("properties").at("op").at("enum") ==
        json::array{"put", "delete"});
  CHECK(txn.at("annotations").at("readOnlyHint") == false);
  const auto& txn_out = txn.at("outputSchema").at("properties").as_object();
  for (const char* p : {"succeeded", "compare_held", "results", "journal_seq"}) {
    INFO(p);
    CHECK(txn_out.contains(p));
  }

  for (const char* name : {"memory_get", "memory_list"}) {
    INFO(name);
    const json::object tool = tool_of(a, name);
    const auto& p = tool.at("inputSchema").at("properties").as_object();
    CHECK(p.contains("wait_ms"));
    CHECK(p.contains("after_version"));
    CHECK(p.at("match").at("type") == "object");
    CHECK(tool.at("annotations").at("readOnlyHint") == true);
  }
}

TEST_CASE("memory_take: by key, the oldest under a prefix, by template; each entry once", "[memory_take]") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b");

  a.ok("memory_put", {{"key", "job"}, {"value", {{"n", 1}}}});
  auto took = a.ok("memory_take", {{"key", "job"}});
  CHECK(took.at("taken") == true);
  CHECK(took.at("key") == "job");
  CHECK(took.at("value") == json::object{{"n", 1}});
  CHECK(took.at("version") == 1);
  CHECK(took.at("created_at").as_int64() > 0);
  CHECK(took.at("tier") == "cross_run");
  CHECK(took.at("namespace") == "own");
  CHECK_FALSE(a.ok("memory_get", {{"key", "job"}}).at("found").as_bool());
  auto again = a.ok("memory_take", {{"key", "job"}});
  CHECK(again.at("taken") == false);
  CHECK_FALSE(again.contains("value"));

  // Oldest first by creation, not by key.
  for (const char* k : {"q/3", "q/1", "q/2"}) {
    a.ok("memory_put", {{"key", k}, {"namespace", "shared"}, {"value", {{"k", k}}}});
  }
  CHECK(b.ok("memory_take", {{"prefix", "q/"}, {"namespace", "shared"}}).at("key") == "q/3");
  CHECK(a.ok("memory_take", {{"prefix", "q/"}, {"namespace", "shared"}}).at("key") == "q/1");
  CHECK(b.ok("memory_take", {{"prefix", "q/"}, {"namespace", "shared"}}).at("key") == "q/2");
  CHECK(a.ok("memory_take", {{"prefix", "q/"}, {"namespace", "shared"}}).at("taken") == false);

  // A template: equality field by field, $exists.
  a.ok("memory_put", {{"key", "t/1"}, {"value", {{"kind", "build"}, {"arch", "x86"}}}});
  a.ok("memory_put", {{"key", "t/2"}, {"value", {{"kind", "test"}, {"shard", 2}}}});
  a.ok("memory_put", {{"key", "t/3"}, {"value", {{"kind", "test"}}}});
  auto test = a.ok("memory_take", {{"prefix", "t/"}, {"match", {{"kind", "test"}, {"shard", {{"$exists", false}}}}}});
  CHECK(test.at("key") == "t/3");
  auto sharded = a.ok("memory_take", {{"prefix", "t/"}, {"match", {{"shard", 2.0}}}});
  CHECK(sharded.at("key") == "t/2");
  CHECK(a.ok("memory_take", {{"prefix", "t/"}, {"match", {{"kind", "deploy"}}}}).at("taken") == false);

  // One agent's own namespace is not another's.
  a.ok("memory_put", {{"key", "mine"}, {"value", 1}});
  CHECK(b.ok("memory_take", {{"key", "mine"}}).at("taken") == false);
  CHECK(a.ok("memory_get", {{"key", "mine"}}).at("found") == true);

  // The text says what was taken, for clients that show only text.
  auto text = a.call("memory_take", {{"key", "mine"}});
  CHECK_THAT(std::string(text.at("content").at(0).at("text").as_string()),
             Catch::Contains("took mine version 1"));
}

TEST_CASE("memory_take is journaled as MEMORY_TAKE", "[memory_take]") {
  Stack stack;
  Client a(stack, "agent-a");
  a.ok("memory_put", {{"key", "work/1"}, {"namespace", "shared"}, {"value", "payload"}});
  a.ok("memory_take", {{"key", "work/1"}, {"namespace", "shared"}});
  auto tail = a.ok("journal_tail", {{"op", "MEMORY_TAKE"}});
  const auto& records = tail.at("records").as_array();
  REQUIRE(records.size() == 1);
  CHECK(records[0].at("principal") == "agent-a");
  INFO(json::serialize(records[0]));
  CHECK_THAT(json::serialize(records[0]), Catch::Contains("work/1"));
}

TEST_CASE("memory_take, memory_get, memory_list: bad requests are refused with a code", "[memory_take]") {
  Stack stack;
  Client a(stack, "agent-a");
  CHECK(refused(a, "memory_take", {}) == "INVALID_ARGUMENT");
  CHECK(refused(a, "memory_take", {{"key", "k"}, {"prefix", "p"}}) == "INVALID_ARGUMENT");
  CHECK(refused(a, "memory_take", {{"key", ""}}) == "INVALID_ARGUMENT");
  CHECK(refused(a, "memory_take", {{"key", "k"}, {"match", 3}}) == "INVALID_ARGUMENT");
  CHECK(refused(a, "memory_take", {{"key", "k"}, {"match", {{"a", {{"$exists", 1}}}}}}) ==
        "INVALID_ARGUMENT");
  CHECK(refused(a, "memory_take", {{"key", "k"}, {"wait_ms", -1}}) == "INVALID_ARGUMENT");
  CHECK(refused(a, "memory_take", {{"key", "k"}, {"wait_ms", 24LL * 3600 * 1000}}) ==
        "INVALID_ARGUMENT");  // past memory_max_wait_ms
  CHECK(refused(a, "memory_take", {{"key", "k"}, {"tier", "forever"}}) == "INVALID_ARGUMENT");
  CHECK(refused(a, "memory_get", {{"key", "k"}, {"after_version", -1}}) == "INVALID_ARGUMENT");
  CHECK(refused(a, "memory_get", {{"key", "k"}, {"match", {{"a", {{"$exists", true}, {"b", 1}}}}}}) ==
        "INVALID_ARGUMENT");
  CHECK(refused(a, "memory_list", {{"prefix", "p"}, {"wait_ms", 24LL * 3600 * 1000}}) ==
        "INVALID_ARGUMENT");

  // An agent without the shared capability cannot take from the shared namespace.
  Stack narrow(StackOptions{.caps = {"memory.session", "memory.cross_run"}});
  Client c(narrow, "agent-c");
  CHECK(refused(c, "memory_take", {{"key", "k"}, {"namespace", "shared"}}) == "PERMISSION_DENIED");
}

TEST_CASE("memory_get and memory_list wait for a write; without one they say so", "[memory_take]") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b");

  // Nothing comes: satisfied false, what is there is read anyway.
  a.ok("memory_put", {{"key", "plan"}, {"namespace", "shared"}, {"value", {{"step", 1}}}});
  auto same = a.ok("memory_get",
                   {{"key", "plan"}, {"namespace", "shared"}, {"after_version", 1}, {"wait_ms", 0}});
  CHECK(same.at("satisfied") == false);
  CHECK(same.at("found") == true);
  CHECK(same.at("version") == 1);
  CHECK(same.contains("waited_ms"));
  auto unmatched = a.ok("memory_get", {{"key", "plan"}, {"namespace", "shared"}, {"match", {{"step", 2}}}});
  CHECK(unmatched.at("satisfied") == false);
  // Without wait arguments the reply is the plain read.
  CHECK_FALSE(a.ok("memory_get", {{"key", "plan"}, {"namespace", "shared"}}).contains("satisfied"));

  // A waiter on another connection wakes with the new version.
  int get_id = 0;
  std::thread getter = a.call_async(
      "memory_get",
      {{"key", "plan"}, {"namespace", "shared"}, {"after_version", 1}, {"match", {{"step", 2}}},
       {"wait_ms", 30000}},
      get_id);
  int list_id = 0;
  std::thread lister = a.call_async(
      "memory_list", {{"prefix", "inbox/"}, {"namespace", "shared"}, {"wait_ms", 30000}}, list_id);
  b.ok("memory_put", {{"key", "plan"}, {"namespace", "shared"}, {"value", {{"step", 2}}}});
  b.ok("memory_put", {{"key", "inbox/1"}, {"namespace", "shared"}, {"value", "hi"}});
  getter.join();
  lister.join();
  auto got = async_result(a, get_id);
  CHECK(got.at("satisfied") == true);
  CHECK(got.at("version") == 2);
  CHECK(got.at("value") == json::object{{"step", 2}});
  auto listed = async_result(a, list_id);
  CHECK(listed.at("satisfied") == true);
  REQUIRE(listed.at("entries").as_array().size() == 1);
  CHECK(listed.at("entries").at(0).at("key") == "inbox/1");

  // A taker waiting on an empty queue gets the entry put after it started.
  int take_id = 0;
  std::thread taker = a.call_async(
      "memory_take", {{"prefix", "tasks/"}, {"namespace", "shared"}, {"wait_ms", 30000}}, take_id);
  b.ok("memory_put", {{"key", "tasks/1"}, {"namespace", "shared"}, {"value", "build"}});
  taker.join();
  auto took = async_result(a, take_id);
  CHECK(took.at("taken") == true);
  CHECK(took.at("key") == "tasks/1");
}

TEST_CASE("notifications/cancelled ends a memory_take wait, with no response", "[memory_take]") {
  Stack stack;
  Client a(stack, "agent-a");
  int id = 0;
  std::atomic<bool> done{false};
  std::thread taker = a.call_async("memory_take", {{"prefix", "never/"}, {"wait_ms", 60000}}, id);
  std::thread watcher([&] {
    taker.join();
    done = true;
  });
  // The request must be in flight when the cancel arrives: repeat it until the call ends
  // (a cancel for an id not in flight is ignored).
  for (int i = 0; i < 1000 && !done; ++i) {
    a.notify("notifications/cancelled", {{"requestId", id}, {"reason", "test"}});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  watcher.join();
  CHECK_FALSE(a.response(id).has_value());
}

TEST_CASE("memory_txn: compare versions, values within tolerance, lease tokens; then or else", "[memory_txn]") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b");
  a.ok("memory_put", {{"key", "counter"}, {"namespace", "shared"}, {"value", 5}});
  a.ok("memory_put", {{"key", "temp"}, {"namespace", "shared"}, {"value", {{"c", 20.0}}}});

  // Every compare holds: then runs, one journal record.
  auto won = a.ok("memory_txn",
                  {{"compare", {{{"key", "counter"}, {"namespace", "shared"}, {"version", 1}},
                                {{"key", "temp"}, {"namespace", "shared"}, {"value", {{"c", 20.4}}},
                                 {"tolerance", 0.5}},
                                {{"key", "absent"}, {"namespace", "shared"}, {"version", 0}}}},
                   {"then", {{{"op", "put"}, {"key", "counter"}, {"namespace", "shared"}, {"value", 6}},
                             {{"op", "delete"}, {"key", "temp"}, {"namespace", "shared"}}}},
                   {"else", {put_op("lost", true)}}});
  CHECK(won.at("succeeded") == true);
  CHECK(won.at("compare_held") == json::array{true, true, true});
  REQUIRE(won.at("results").as_array().size() == 2);
  CHECK(won.at("results").at(0).at("op") == "put");
  CHECK(won.at("results").at(0).at("key") == "counter");
  CHECK(won.at("results").at(0).at("version") == 2);
  CHECK(won.at("results").at(0).at("namespace") == "shared");
  CHECK(won.at("results").at(1).at("op") == "delete");
  CHECK(won.at("results").at(1).at("deleted") == true);
  CHECK(won.at("journal_seq").as_int64() > 0);
  auto txns = a.ok("journal_tail", {{"op", "MEMORY_TXN"}});
  REQUIRE(txns.at("records").as_array().size() == 1);
  CHECK(txns.at("records").at(0).at("seq") == won.at("journal_seq"));

  // A stale belief: then does not run, else does.
  auto lost = b.ok("memory_txn",
                   {{"compare", {{{"key", "counter"}, {"namespace", "shared"}, {"version", 1}}}},
                    {"then", {{{"op", "put"}, {"key", "counter"}, {"namespace", "shared"}, {"value", 99}}}},
                    {"else", {put_op("saw-drift", true)}}});
  CHECK(lost.at("succeeded") == false);
  CHECK(lost.at("compare_held") == json::array{false});
  REQUIRE(lost.at("results").as_array().size() == 1);
  CHECK(lost.at("results").at(0).at("key") == "saw-drift");
  CHECK(a.ok("memory_get", {{"key", "counter"}, {"namespace", "shared"}}).at("value") == 6);

  // Nothing to write: no record.
  auto idle = b.ok("memory_txn",
                   {{"compare", {{{"key", "counter"}, {"namespace", "shared"}, {"version", 1}}}},
                    {"then", {put_op("x", 1)}}});
  CHECK(idle.at("succeeded") == false);
  CHECK(idle.at("results").as_array().empty());
  CHECK(idle.at("journal_seq") == 0);

  // A lease token: the live one holds, an old one does not.
  auto grant = a.ok("lease_acquire", {{"name", "deploy"}, {"ttl_ms", 60000}});
  const std::int64_t token = grant.at("token").as_int64();
  auto fenced = a.ok("memory_txn", {{"compare", {{{"lease", "deploy"}, {"token", token}}}},
                                    {"then", {put_op("deployed", true)}}});
  CHECK(fenced.at("succeeded") == true);
  auto stale = a.ok("memory_txn", {{"compare", {{{"lease", "deploy"}, {"token", token + 100}}}},
                                   {"then", {put_op("deployed", false)}}});
  CHECK(stale.at("succeeded") == false);
  CHECK(a.ok("memory_get", {{"key", "deployed"}}).at("value") == true);
}

TEST_CASE("memory_txn: malformed compares and writes are refused, nothing written", "[memory_txn]") {
  Stack stack;
  Client a(stack, "agent-a");
  const json::array then{put_op("x", 1)};
  auto txn = [&](json::array compare, json::array then_ops) {
    return refused(a, "memory_txn", {{"compare", std::move(compare)}, {"then", std::move(then_ops)}});
  };
  CHECK(refused(a, "memory_txn", {{"then", then}}) == "INVALID_ARGUMENT");  // compare is required
  CHECK(txn({json::object{{"version", 1}}}, then) == "INVALID_ARGUMENT");   // neither key nor lease
  CHECK(txn({json::object{{"key", "k"}, {"lease", "l"}, {"version", 1}}}, then) == "INVALID_ARGUMENT");
  CHECK(txn({json::object{{"key", "k"}}}, then) == "INVALID_ARGUMENT");  // no version or value
  CHECK(txn({json::object{{"key", "k"}, {"version", 1}, {"value", 1}}}, then) == "INVALID_ARGUMENT");
  CHECK(txn({json::object{{"key", "k"}, {"version", 1}, {"tolerance", 1}}}, then) == "INVALID_ARGUMENT");
  CHECK(txn({json::object{{"key", "k"}, {"value", 1}, {"tolerance", -1}}}, then) == "INVALID_ARGUMENT");
  CHECK(txn({json::object{{"lease", "l"}}}, then) == "INVALID_ARGUMENT");  // no token
  CHECK(txn({json::object{{"key", "k"}, {"version", 0}, {"token", 3}}}, then) == "INVALID_ARGUMENT");
  CHECK(txn({}, {json::object{{"op", "put"}, {"key", "k"}}}) == "INVALID_ARGUMENT");  // no value
  CHECK(txn({}, {json::object{{"op", "delete"}, {"key", "k"}, {"value", 1}}}) == "INVALID_ARGUMENT");
  CHECK(txn({}, {json::object{{"op", "upsert"}, {"key", "k"}, {"value", 1}}}) == "INVALID_ARGUMENT");
  CHECK(txn({}, {json::object{{"op", "put"}, {"key", ""}, {"value", 1}}}) == "INVALID_ARGUMENT");
  json::array many;
  for (int i = 0; i < 65; ++i) many.push_back(json::object{{"key", "k" + std::to_string(i)}, {"version", 0}});
  CHECK(txn(many, then) == "INVALID_ARGUMENT");
  // A refused write in a branch leaves the others unapplied too.
  CHECK(txn({}, {put_op("first", 1), json::object{{"op", "put"}, {"key", "big"},
                                                   {"value", std::string(70000, 'x')}}}) == "TOO_LARGE");
  CHECK_FALSE(a.ok("memory_get", {{"key", "first"}}).at("found").as_bool());
  CHECK_FALSE(a.ok("memory_get", {{"key", "x"}}).at("found").as_bool());
}

#ifdef KEEL_BINARY
TEST_CASE("keel memory take, txn and get --wait-ms through the binary", "[memory_take]") {
  using keel::cli::testing::quote;
  using keel::cli::testing::Run;
  using keel::cli::testing::run_keel_binary;
  using keel::cli::testing::shell;
  keel::state::testing::TempDir tmp;
  const std::string dir = "--state " + (tmp.path() / "state").string() + " --project " +
                          std::filesystem::temp_directory_path().string();
  REQUIRE(run_keel_binary("memory put q/a '{\"kind\":\"x\"}' --shared " + dir).status == 0);
  REQUIRE(run_keel_binary("memory put q/b '{\"kind\":\"y\"}' --shared " + dir).status == 0);

  Run take = run_keel_binary("memory take --prefix q/ --match '{\"kind\":\"y\"}' --shared --json " + dir);
  INFO(take.out);
  CHECK(take.status == 0);
  auto out = json::parse(take.out).as_object();
  CHECK(out.at("key") == "q/b");
  CHECK(out.at("value") == json::object{{"kind", "y"}});
  Run text = run_keel_binary("memory take q/a --shared " + dir);
  CHECK(text.status == 0);
  CHECK_THAT(text.out, Catch::Contains("took q/a"));
  Run none = run_keel_binary("memory take --prefix q/ --shared --wait-ms 10 " + dir);
  CHECK(none.status == 1);
  CHECK_THAT(none.out, Catch::Contains("nothing to take"));
  CHECK(run_keel_binary("memory take q/a --prefix q/ " + dir).status == 2);
  CHECK(run_keel_binary("memory take --prefix q/ --match nope " + dir).status == 2);

  // txn from a file and from stdin; exit 1 when a compare fails.
  const auto body = tmp.path() / "txn.json";
  keel::cli::testing::spit(body, R"({"compare":[{"key":"n","version":0}],
                                     "then":[{"op":"put","key":"n","value":1}]})");
  Run first = run_keel_binary("memory txn --file " + body.string() + " --json " + dir);
  INFO(first.out);
  CHECK(first.status == 0);
  CHECK(json::parse(first.out).at("succeeded") == true);
  Run second = shell("cat " + body.string() + " | " + std::string(KEEL_BINARY) + " memory txn - " + dir);
  CHECK(second.status == 1);
  CHECK_THAT(second.out, Catch::Contains("compare failed"));
  Run bad = shell("echo " + quote(R"({"compare":[{"key":"n"}],"then":[]})") + " | " +
                  std::string(KEEL_BINARY) + " memory txn - " + dir);
  CHECK(bad.status == 1);
  CHECK_THAT(bad.out, Catch::Contains("INVALID_ARGUMENT"));
  CHECK(run_keel_binary("memory txn " + dir).status == 2);

  // get --wait-ms: satisfied at once for a version other than --after-version.
  Run got = run_keel_binary("memory get n --wait-ms 5000 --after-version 0 --json " + dir);
  CHECK(got.status == 0);
  CHECK(json::parse(got.out).at("value") == 1);
  Run stale = run_keel_binary("memory get n --wait-ms 10 --after-version 1 " + dir);
  CHECK(stale.status == 0);
  CHECK_THAT(stale.out, Catch::Contains("no change"));
  Run listed = run_keel_binary("memory ls --wait-ms 5000 " + dir);
  CHECK(listed.status == 0);
  CHECK_THAT(listed.out, Catch::Contains("n  v1"));
}
#endif

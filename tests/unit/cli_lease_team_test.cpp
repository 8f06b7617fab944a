// Leases as a team (issue 18) through the tools and the command line: many
// names all or nothing, counted names, the fair queue as lease_list shows it,
// upgrade/downgrade, release asks, idempotency by arguments, release by group
// and by ids; bad arguments are INVALID_ARGUMENT tool errors; config
// lease.capacities and `keel lease acquire|release|ask|downgrade|ls`.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "cli/config.h"
#include "cli_test_util.h"
#include "cli_tool_stack.h"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace keel::tools::testing;

namespace {

std::string code_of(Client& c, const std::string& tool, json::object args) {
  return c.refused(tool, std::move(args)).first;
}

std::string text_of(const json::object& result) {
  return std::string(result.at("content").as_array()[0].at("text").as_string());
}

std::int64_t num(const json::value& v) { return v.as_int64(); }

}  // namespace

TEST_CASE("lease_acquire names: all or nothing, canonical order, one group", "[lease_team]") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b");
  a.ok("lease_acquire", {{"name", "file:/r/b.cc"}});

  // b wants both: b.cc is held, so neither is granted.
  auto refused = b.ok("lease_acquire", {{"names", {"file:/r/b.cc", "file:/r/a.h"}}});
  CHECK_FALSE(refused.at("granted").as_bool());
  CHECK(refused.at("refusal") == "held");
  CHECK(refused.at("names") == json::array{"file:/r/a.h", "file:/r/b.cc"});
  REQUIRE(refused.at("holders").as_array().size() == 1);
  CHECK(refused.at("holders").at(0).at("name") == "file:/r/b.cc");
  CHECK(b.ok("lease_list", {}).at("leases").as_array().size() == 1);  // a.h was not taken

  a.ok("lease_release", {{"name", "file:/r/b.cc"}, {"force", false},
                         {"lease_id", a.ok("lease_list", {}).at("leases").at(0).at("lease_id")}});
  // Any order, duplicates and spelling: decided as the sorted, normalized set.
  auto grant = b.ok("lease_acquire", {{"names", {"file:/r/b.cc", "file:/r//a.h", "file:/r/b.cc"}}});
  REQUIRE(grant.at("granted").as_bool());
  const auto& leases = grant.at("leases").as_array();
  REQUIRE(leases.size() == 2);
  CHECK(leases[0].at("name") == "file:/r/a.h");
  CHECK(leases[1].at("name") == "file:/r/b.cc");
  CHECK(num(leases[0].at("token")) < num(leases[1].at("token")));
  CHECK(leases[0].at("group_id") == leases[1].at("group_id"));
  CHECK(grant.at("group_id") == leases[0].at("group_id"));
  CHECK(grant.at("lease_id") == leases[0].at("lease_id"));
  CHECK_THAT(text_of(b.call("lease_list", {})), Catch::Contains("file:/r/a.h"));

  // Releasing the group releases both, one RELEASE each.
  auto rel = b.ok("lease_release", {{"group_id", grant.at("group_id")}});
  CHECK(rel.at("released").as_bool());
  CHECK(rel.at("releases").as_array().size() == 2);
  CHECK(b.ok("lease_list", {}).at("leases").as_array().empty());
  auto again = b.ok("lease_release", {{"group_id", grant.at("group_id")}});
  CHECK_FALSE(again.at("released").as_bool());
  CHECK(again.at("outcome") == "already_released");
  CHECK(a.ok("journal_replay", {}).at("equal").as_bool());
}

TEST_CASE("lease_release lease_ids: several at once, refused whole for another's lease",
          "[lease_team]") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b");
  auto grant = a.ok("lease_acquire", {{"names", {"slot:p", "slot:q", "slot:r"}}});
  const auto& l = grant.at("leases").as_array();
  REQUIRE(l.size() == 3);
  // b may not release a's leases: nothing is released.
  CHECK(code_of(b, "lease_release", {{"lease_ids", {l[0].at("lease_id"), l[1].at("lease_id")}}}) ==
        "PERMISSION_DENIED");
  CHECK(a.ok("lease_list", {}).at("leases").as_array().size() == 3);

  auto rel = a.ok("lease_release",
                  {{"lease_ids", {l[0].at("lease_id"), l[2].at("lease_id"), "lease_no_such"}}});
  CHECK(rel.at("released").as_bool());
  const auto& r = rel.at("releases").as_array();
  REQUIRE(r.size() == 3);
  CHECK(r[0].at("name") == "slot:p");
  CHECK(r[0].at("outcome") == "released");
  CHECK(r[1].at("name") == "slot:r");
  CHECK(r[2].at("outcome") == "already_released");
  CHECK_FALSE(r[2].as_object().contains("name"));
  auto left = a.ok("lease_list", {}).at("leases").as_array();
  REQUIRE(left.size() == 1);
  CHECK(left[0].at("name") == "slot:q");

  // A lease that ran out is reported expired, not released (its name is not needed).
  auto brief = a.ok("lease_acquire", {{"name", "slot:brief"}, {"ttl_ms", 1}});
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto expired = a.ok("lease_release", {{"lease_ids", {brief.at("lease_id")}}});
  CHECK_FALSE(expired.at("released").as_bool());
  CHECK(expired.at("outcome") == "expired");
  CHECK(expired.at("releases").at(0).at("outcome") == "expired");
}

TEST_CASE("counted names: units within capacity, refusals say what is free", "[lease_team]") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b");
  auto first = a.ok("lease_acquire", {{"name", "slot:build"}, {"capacity", 4}, {"units", 3}});
  REQUIRE(first.at("granted").as_bool());
  CHECK(first.at("units") == 3);

  auto r = b.call("lease_acquire", {{"name", "slot:build"}, {"units", 2}});
  REQUIRE_FALSE(r.at("isError").as_bool());
  const auto& refused = r.at("structuredContent").as_object();
  CHECK_FALSE(refused.at("granted").as_bool());
  CHECK(refused.at("refusal") == "capacity");
  REQUIRE(refused.at("counted").as_array().size() == 1);
  const auto& c = refused.at("counted").at(0);
  CHECK(c.at("name") == "slot:build");
  CHECK(c.at("capacity") == 4);
  CHECK(c.at("used") == 3);
  CHECK(c.at("free") == 1);
  CHECK_THAT(text_of(r), Catch::StartsWith("refused: not enough capacity on slot:build"));
  CHECK_FALSE(refused.contains("timed_out"));

  CHECK(b.ok("lease_acquire", {{"name", "slot:build"}, {"units", 1}}).at("granted").as_bool());
  auto board = b.ok("lease_list", {{"prefix", "slot:"}});
  REQUIRE(board.at("capacities").as_array().size() == 1);
  CHECK(board.at("capacities").at(0).at("used") == 4);
  CHECK(board.at("capacities").at(0).at("free") == 0);

  // The capacity is fixed once declared; units must fit it; other names take 1.
  CHECK(code_of(b, "lease_acquire", {{"name", "slot:build"}, {"capacity", 5}}) == "INVALID_ARGUMENT");
  CHECK(code_of(b, "lease_acquire", {{"name", "slot:build"}, {"units", 5}}) == "INVALID_ARGUMENT");
  CHECK(code_of(b, "lease_acquire", {{"name", "slot:other"}, {"units", 2}}) == "INVALID_ARGUMENT");
  CHECK(code_of(b, "lease_acquire", {{"name", "file:/r/x"}, {"capacity", 2}}) == "INVALID_ARGUMENT");
  CHECK(code_of(b, "lease_acquire", {{"names", {"slot:a", "slot:b"}}, {"capacity", 2}}) ==
        "INVALID_ARGUMENT");
}

TEST_CASE("waiting: timed out vs refused at once; lease_list shows the queue", "[lease_team]") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b"), c(stack, "agent-c");
  auto held = a.ok("lease_acquire", {{"name", "slot:hot"}});

  auto quick = b.call("lease_acquire", {{"name", "slot:hot"}});
  CHECK_THAT(text_of(quick), Catch::StartsWith("refused: slot:hot is held by agent-a"));
  auto waited = b.call("lease_acquire", {{"name", "slot:hot"}, {"wait_ms", 300}});
  const auto& w = waited.at("structuredContent").as_object();
  CHECK_FALSE(w.at("granted").as_bool());
  CHECK(w.at("timed_out").as_bool());
  CHECK(num(w.at("waited_ms")) >= 250);
  CHECK(w.at("refusal") == "held");
  CHECK_THAT(text_of(waited), Catch::StartsWith("waited "));
  CHECK_THAT(text_of(waited), Catch::Contains("ms and timed out"));

  // c queues; the board shows it, and a newcomer is told it is behind c.
  int id = 0;
  std::thread waiter = c.call_async("lease_acquire", {{"name", "slot:hot"}, {"wait_ms", 20000}}, id);
  json::array waiters;
  for (int i = 0; i < 200 && waiters.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    waiters = b.ok("lease_list", {}).at("waiters").as_array();
  }
  // (CHECKs only until c's call has returned: its thread must be joined.)
  CHECK(waiters.size() == 1);
  if (waiters.size() == 1) {
    CHECK(waiters[0].at("agent") == "agent-c");
    CHECK(waiters[0].at("names") == json::array{"slot:hot"});
  }
  CHECK_THAT(text_of(b.call("lease_list", {})), Catch::Contains("agent-c waits for slot:hot"));
  auto behind = b.call("lease_acquire", {{"name", "slot:hot"}});
  const auto& q = behind.at("structuredContent").as_object();
  CHECK(q.at("refusal") == "queued");
  CHECK(q.contains("ahead"));
  if (q.contains("ahead")) CHECK(q.at("ahead").at(0).at("agent") == "agent-c");
  CHECK_THAT(text_of(behind), Catch::Contains("queued behind agent-c"));

  // a lets go: c is served.
  a.call("lease_release", {{"name", "slot:hot"}, {"lease_id", held.at("lease_id")}});
  waiter.join();
  auto done = c.response(id);
  REQUIRE(done);
  CHECK(done->at("result").at("structuredContent").at("granted").as_bool());
  CHECK(b.ok("lease_list", {}).at("waiters").as_array().empty());
}

TEST_CASE("upgrade in place, downgrade, and asking the holder", "[lease_team]") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b");
  auto shared = a.ok("lease_acquire", {{"name", "file:/r/db.cc"}, {"mode", "shared"}});
  auto up = a.ok("lease_acquire", {{"name", "file:/r/db.cc"}, {"mode", "exclusive"}});
  REQUIRE(up.at("granted").as_bool());
  CHECK(up.at("upgraded").as_bool());
  CHECK(up.at("lease_id") == shared.at("lease_id"));
  CHECK(up.at("mode") == "exclusive");
  CHECK(num(up.at("token")) > num(shared.at("token")));
  CHECK_FALSE(b.ok("lease_acquire", {{"name", "file:/r/db.cc"}, {"mode", "shared"}}).at("granted").as_bool());
  auto again = a.call("lease_acquire", {{"name", "file:/r/db.cc"}});
  CHECK(again.at("structuredContent").at("already_held").as_bool());
  CHECK_THAT(text_of(again), Catch::StartsWith("already held: file:/r/db.cc token " +
                                               std::to_string(num(up.at("token")))));

  CHECK(code_of(b, "lease_downgrade", {{"name", "file:/r/db.cc"}, {"lease_id", up.at("lease_id")}}) ==
        "PERMISSION_DENIED");
  auto down = a.ok("lease_downgrade", {{"name", "file:/r/db.cc"}, {"lease_id", up.at("lease_id")}});
  CHECK(down.at("mode") == "shared");
  CHECK(num(down.at("token")) > num(up.at("token")));
  CHECK(b.ok("lease_acquire", {{"name", "file:/r/db.cc"}, {"mode", "shared"}}).at("granted").as_bool());

  // b asks a (the other holder) to let go; the board lists the ask.
  auto ask = b.ok("lease_request_release", {{"name", "file:/r//db.cc"}, {"reason", "schema migration"}});
  CHECK(ask.at("name") == "file:/r/db.cc");
  REQUIRE(ask.at("asks").as_array().size() == 1);
  CHECK(ask.at("asks").at(0).at("holder") == "agent-a");
  auto board = a.ok("lease_list", {});
  REQUIRE(board.at("asks").as_array().size() == 1);
  CHECK(board.at("asks").at(0).at("asker") == "agent-b");
  CHECK(board.at("asks").at(0).at("reason") == "schema migration");
  CHECK(a.ok("journal_tail", {{"op", "ASK_RELEASE"}}).at("records").as_array().size() == 1);
  CHECK(a.ok("journal_tail", {{"op", "UPGRADE"}}).at("records").as_array().size() == 1);
  CHECK(a.ok("journal_tail", {{"op", "DOWNGRADE"}}).at("records").as_array().size() == 1);
  CHECK(code_of(b, "lease_request_release", {{"name", "slot:nobody"}, {"reason", "x"}}) == "NOT_FOUND");
  CHECK(a.ok("journal_replay", {}).at("equal").as_bool());
}

TEST_CASE("request_id replays only the same arguments, and says when it was released",
          "[lease_team]") {
  Stack stack;
  Client a(stack, "agent-a");
  json::object args{{"names", {"slot:m", "slot:n"}}, {"request_id", "req-1"}, {"ttl_ms", 60000}};
  auto first = a.ok("lease_acquire", args);
  REQUIRE(first.at("granted").as_bool());
  json::object reordered = args;
  reordered["names"] = {"slot:n", "slot:m"};  // the same set
  auto replay = a.ok("lease_acquire", reordered);
  CHECK(replay.at("replayed").as_bool());
  CHECK(replay.at("replay_status") == "granted");
  CHECK(replay.at("leases") == first.at("leases"));
  json::object other = args;
  other["ttl_ms"] = 5000;
  CHECK(code_of(a, "lease_acquire", other) == "INVALID_ARGUMENT");

  a.ok("lease_release", {{"group_id", first.at("group_id")}});
  auto gone = a.call("lease_acquire", args);
  const auto& g = gone.at("structuredContent").as_object();
  CHECK_FALSE(g.at("granted").as_bool());
  CHECK(g.at("refusal") == "released");
  CHECK(g.at("replay_status") == "released");
  CHECK(g.at("leases").as_array().size() == 2);  // the grant as it was
  CHECK_THAT(text_of(gone), Catch::Contains("released since"));
}

TEST_CASE("bad lease arguments are INVALID_ARGUMENT tool errors", "[lease_team]") {
  Stack stack;
  Client a(stack, "agent-a");
  json::array many;
  for (int i = 0; i < 65; ++i) many.emplace_back("slot:" + std::to_string(i));
  const std::vector<json::object> bad{
      {{"name", "slot:x"}, {"names", {"slot:y"}}},  // both
      json::object{},                               // neither
      {{"names", "slot:x"}},                        // not an array
      {{"names", json::array{}}},                   // empty
      {{"names", many}},                            // too many
      {{"names", {5}}},                             // not strings
      {{"names", {""}}},                            // an empty name
      {{"name", "slot:x"}, {"units", 0}},
      {{"name", "slot:x"}, {"units", -3}},
      {{"name", "slot:x"}, {"units", 18'000'000'000'000'000'000ULL}},
      {{"name", "slot:x"}, {"units", 1e300}},
      {{"name", "slot:x"}, {"capacity", 0}},
      {{"name", "file:/x"}, {"capacity", 3}},
      {{"name", "slot:x"}, {"priority", 11}},
      {{"name", "slot:x"}, {"priority", -11}},
      {{"name", "slot:x"}, {"priority", "high"}},
  };
  for (const auto& args : bad) {
    INFO(json::serialize(args));
    CHECK(code_of(a, "lease_acquire", args) == "INVALID_ARGUMENT");
  }
  const std::vector<json::object> bad_release{
      json::object{},
      {{"lease_ids", "lease_1"}},
      {{"lease_ids", json::array{}}},
      {{"lease_ids", {1, 2}}},
      {{"group_id", ""}},
      {{"group_id", "g"}, {"name", "slot:x"}},
      {{"lease_ids", {"l1"}}, {"lease_id", "l2"}},
  };
  for (const auto& args : bad_release) {
    INFO(json::serialize(args));
    CHECK(code_of(a, "lease_release", args) == "INVALID_ARGUMENT");
  }
  CHECK(code_of(a, "lease_request_release", {{"name", "slot:x"}, {"reason", std::string(1025, 'r')}}) ==
        "INVALID_ARGUMENT");
  CHECK(code_of(a, "lease_request_release", {{"name", "slot:x"}, {"reason", ""}}) == "INVALID_ARGUMENT");
  CHECK(code_of(a, "lease_request_release", {{"name", "slot:x"}}) == "INVALID_ARGUMENT");
  CHECK(code_of(a, "lease_downgrade", {{"name", "slot:x"}}) == "INVALID_ARGUMENT");
  // The server still serves.
  CHECK(a.ok("lease_acquire", {{"name", "slot:x"}}).at("granted").as_bool());
}

TEST_CASE("config lease.capacities: counted free names, positive integers", "[lease_team][config]") {
  using keel::cli::ConfigError;
  using keel::cli::parse_config;
  auto c = parse_config(R"({"lease": {"capacities": {"slot:build": 4, "gpu": 1}}})", "t");
  CHECK(c.store.lease_capacities == std::map<std::string, std::int64_t>{{"gpu", 1}, {"slot:build", 4}});
  CHECK(parse_config("{}", "t").store.lease_capacities.empty());
  CHECK_THROWS_WITH(parse_config(R"({"lease": {"capacities": {"slot:b": 0}}})", "t"),
                    Catch::Contains("lease.capacities.slot:b: must be a positive integer"));
  CHECK_THROWS_WITH(parse_config(R"({"lease": {"capacities": {"slot:b": -2}}})", "t"),
                    Catch::Contains("must be a positive integer"));
  CHECK_THROWS_WITH(parse_config(R"({"lease": {"capacities": {"slot:b": 2.5}}})", "t"),
                    Catch::Contains("must be a positive integer"));
  CHECK_THROWS_WITH(parse_config(R"({"lease": {"capacities": {"slot:b": 99999999999999999999}}})", "t"),
                    Catch::Contains("must be a positive integer"));
  CHECK_THROWS_WITH(parse_config(R"({"lease": {"capacities": {"slot:b": "4"}}})", "t"),
                    Catch::Contains("must be a positive integer"));
  CHECK_THROWS_WITH(parse_config(R"({"lease": {"capacities": {"file:/repo/x": 2}}})", "t"),
                    Catch::Contains("must be a free name"));
  CHECK_THROWS_WITH(parse_config(R"({"lease": {"capacities": {"dir:/repo": 2}}})", "t"),
                    Catch::Contains("must be a free name"));
  CHECK_THROWS_WITH(parse_config(R"({"lease": {"capacities": {"": 2}}})", "t"),
                    Catch::Contains("not a lease name"));
  CHECK_THROWS_AS(parse_config(R"({"lease": {"capacities": [4]}})", "t"), ConfigError);
}

namespace {

// `keel ARGS` in a fresh project with the given config (stderr folded in).
struct CliProject : keel::cli::testing::TempProject {
  fs::path config = root / "keel.jsonc";
  explicit CliProject(const std::string& config_text) { keel::cli::testing::spit(config, config_text); }
  keel::cli::testing::Run keel(const std::string& args) {
    using keel::cli::testing::quote;
    return keel::cli::testing::shell("cd " + quote(project.string()) +
                                     " && env -u KEEL_AGENT -u KEEL_STATE_DIR -u KEEL_CONFIG "
                                     "-u KEEL_STORE_URL " +
                                     quote(KEEL_BINARY) + " " + args + " --config " +
                                     quote(config.string()));
  }
};

}  // namespace

TEST_CASE("keel lease acquire/ls/ask/downgrade/release --group from the command line",
          "[lease_team][cli]") {
  CliProject p(R"({"lease": {"capacities": {"slot:build": 4}}})");
  auto r = p.keel("lease acquire slot:build --units 3 --agent ci-1");
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("granted: slot:build") && Catch::Contains("units 3"));

  r = p.keel("lease acquire slot:build --units 2 --agent ci-2");
  CHECK(r.status == 1);
  CHECK_THAT(r.out, Catch::Contains("not enough capacity on slot:build: 3 of 4 units used, 1 free"));
  CHECK(p.keel("lease acquire slot:build --units 5 --agent ci-2").status == 1);  // INVALID_ARGUMENT
  CHECK(p.keel("lease acquire slot:build --priority 12").status == 2);          // usage

  r = p.keel("lease ls");
  CHECK_THAT(r.out, Catch::Contains("counted names:") && Catch::Contains("slot:build  3/4 used, 1 free"));
  r = p.keel("lease ls --json");
  REQUIRE(r.status == 0);
  auto board = json::parse(r.out).as_object();
  REQUIRE(board.at("capacities").as_array().size() == 1);
  CHECK(board.at("capacities").at(0).at("free") == 1);
  CHECK(board.at("leases").at(0).at("units") == 3);

  // Two files at once, then released together by their group.
  r = p.keel("lease acquire file:/r/b.cc file:/r/a.h --agent dev --json");
  REQUIRE(r.status == 0);
  auto grant = json::parse(r.out).as_object();
  REQUIRE(grant.at("leases").as_array().size() == 2);
  CHECK(grant.at("leases").at(0).at("name") == "file:/r/a.h");
  const std::string group(grant.at("leases").at(0).at("group_id").as_string());
  const std::string lease_a(grant.at("leases").at(0).at("lease_id").as_string());

  r = p.keel("lease ask file:/r/a.h --reason 'need the header' --agent other");
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("asked dev to release file:/r/a.h"));
  CHECK_THAT(p.keel("lease ls").out, Catch::Contains("other asks dev to release file:/r/a.h: need the header"));
  CHECK(p.keel("lease ask file:/r/a.h --agent other").status == 2);  // --reason is required

  r = p.keel("lease downgrade file:/r/a.h --lease-id " + lease_a + " --agent dev");
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::StartsWith("shared: file:/r/a.h"));

  r = p.keel("lease release --group " + group);
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("released: file:/r/a.h") && Catch::Contains("released: file:/r/b.cc"));
  CHECK_THAT(p.keel("lease ls --prefix file:").out, Catch::Contains("no live leases"));
  CHECK(p.keel("lease release file:/r/a.h --group " + group).status == 2);

  CliProject bad(R"({"lease": {"capacities": {"file:/r/x": 2}}})");
  r = bad.keel("lease ls");
  CHECK(r.status == 2);
  CHECK_THAT(r.out, Catch::Contains("lease.capacities.file:/r/x") && Catch::Contains("free name"));
}

// request_id on every tool that changes state (tools/tool_idempotency.h),
// through the whole in-process stack: a retry with the same id and arguments
// replays the first result and changes nothing; other arguments are refused.
#include <catch2/catch.hpp>

#include <functional>
#include <optional>
#include <utility>

#include <boost/json.hpp>

#include "cli_tool_stack.h"
#include "tools/tool_error.h"
#include "tools/tool_idempotency.h"

using namespace keel::tools;
using namespace keel::tools::testing;
namespace json = boost::json;
namespace state = keel::state;

namespace {

const StackOptions kInProject{.in_sandbox_project = true};

// Rebuilds the stack's registry and server with the idempotency decorator
// set before the tools are added, as keel serve does (register_all). Call
// before making clients.
void decorate(Stack& stack) {
  auto env = std::make_shared<ToolEnv>();
  auto registry = std::make_shared<keel::mcp::ToolRegistry>();
  env->store = stack.store.get();
  env->registry = registry.get();
  env->lease_default_ttl_ms = 30'000;
  env->principal = [project = stack.project](const keel::mcp::CallContext& ctx) {
    return principal_for(ctx.client_name, project, ctx.session_id);
  };
  registry->set_decorator(idempotency_decorator(env));
  register_all(*registry, env);
  stack.registry = registry;
  stack.server = std::make_unique<keel::mcp::McpServer>(keel::mcp::ServerOptions{}, registry);
}

json::object with_id(json::object args, const std::string& id) {
  args["request_id"] = id;
  return args;
}

bool is_replay(const json::object& result) {
  const json::value* meta = result.if_contains("_meta");
  return meta != nullptr && meta->is_object() && meta->as_object().contains(kReplayMetaKey);
}

std::size_t records(Stack& stack, std::string_view op) {
  state::JournalFilter f;
  f.op = std::string(op);
  f.limit = 10000;
  return stack.store->journal_query(principal_for("admin", stack.project), f).size();
}

// One decorated tool ("probe") over a store with a manual clock, called
// straight through its handler: what it does while it runs (`during`) is up
// to the test, e.g. move the clock or retry itself.
struct Probe {
  Sandbox sandbox;
  std::shared_ptr<state::ManualClock> clock = std::make_shared<state::ManualClock>();
  std::unique_ptr<state::Store> store;
  std::shared_ptr<ToolEnv> env = std::make_shared<ToolEnv>();
  keel::mcp::Tool tool;
  int runs = 0;
  std::function<void()> during;

  Probe() {
    state::StoreOptions opts;
    opts.dir = sandbox.state();
    opts.synchronous = state::Synchronous::kNormal;
    opts.clock = clock;
    store = state::open_sqlite_store(opts);
    env->store = store.get();
    env->principal = [](const keel::mcp::CallContext& ctx) {
      return principal_for(ctx.client_name, "/proj");
    };
    keel::mcp::Tool inner{.name = "probe"};
    inner.handler = [this](const json::object&, const keel::mcp::CallContext&) {
      const int run = ++runs;
      if (during) std::exchange(during, nullptr)();
      return keel::mcp::ToolResult{.structured = json::object{{"run", run}}};
    };
    tool = idempotency_decorator(env)(std::move(inner));
  }

  json::object call(const json::object& args, bool cancelled = false) {
    keel::mcp::CallContext ctx;
    ctx.client_name = "agent-a";
    if (cancelled) ctx.cancelled = [] { return true; };
    const keel::mcp::ToolResult r = tool.handler(args, ctx);
    return r.raw ? *r.raw : json::object{{"structuredContent", r.structured}};
  }
};

// The store code a call was refused with (nullopt: it was not refused).
std::optional<state::ErrorCode> refused_with(const std::function<void()>& call) {
  try {
    call();
  } catch (const Failure& f) {
    return f.store_code();
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("idempotency: a cancelled call is not remembered, even one that returned",
          "[cli][idempotency]") {
  Probe probe;
  const json::object args{{"x", 1}, {"request_id", "c-1"}};
  CHECK_FALSE(is_replay(probe.call(args, /*cancelled=*/true)));
  CHECK(probe.runs == 1);
  // The retry runs it again (its claim was dropped), then that result replays.
  CHECK_FALSE(is_replay(probe.call(args)));
  CHECK(probe.runs == 2);
  const json::object replay = probe.call(args);
  REQUIRE(is_replay(replay));
  CHECK(replay.at("structuredContent").at("run") == 2);
  CHECK(probe.runs == 2);
}

TEST_CASE("idempotency: a call's wait_ms keeps its claim live; a retry meanwhile is BUSY",
          "[cli][idempotency]") {
  Probe probe;
  const std::int64_t stale_ms = state::StoreOptions{}.request_claim_stale_ms;
  const json::object args{{"wait_ms", 2 * stale_ms}, {"request_id", "w-1"}};
  std::optional<state::ErrorCode> retry;
  probe.during = [&] {
    // Past claim_stale, within wait_ms + claim_stale: the first call still
    // runs, so its retry must not run the call a second time.
    probe.clock->advance(stale_ms + 2 * stale_ms - 1);
    retry = refused_with([&] { probe.call(args); });
  };
  probe.call(args);
  CHECK(retry == state::ErrorCode::kBusy);
  CHECK(probe.runs == 1);
  CHECK(is_replay(probe.call(args)));
}

TEST_CASE("idempotency: a call whose outcome is unknown keeps its claim; a retry is BUSY "
          "until it goes stale, then runs",
          "[cli][idempotency]") {
  // A PostgreSQL COMMIT whose answer was lost, and the database could not be
  // asked in time: the change may have been made, so the retry must not run
  // the call again at once (an ordinary failure drops the claim instead).
  Probe probe;
  const std::int64_t stale_ms = state::StoreOptions{}.request_claim_stale_ms;
  const json::object args{{"x", 1}, {"request_id", "u-1"}};
  probe.during = [] {
    throw Failure(state::ErrorCode::kBusy, "the connection broke during COMMIT",
                  /*outcome_unknown=*/true);
  };
  CHECK(refused_with([&] { probe.call(args); }) == state::ErrorCode::kBusy);
  CHECK(probe.runs == 1);
  CHECK(refused_with([&] { probe.call(args); }) == state::ErrorCode::kBusy);
  CHECK(probe.runs == 1);
  // Stale: taken over as after a crash, the retry runs, and its result replays.
  probe.clock->advance(stale_ms);
  CHECK_FALSE(is_replay(probe.call(args)));
  CHECK(probe.runs == 2);
  CHECK(is_replay(probe.call(args)));

  // The same failure with a known outcome (nothing was made): the retry runs.
  const json::object other{{"x", 2}, {"request_id", "u-2"}};
  probe.during = [] { throw Failure(state::ErrorCode::kBusy, "the database is unreachable"); };
  CHECK(refused_with([&] { probe.call(other); }) == state::ErrorCode::kBusy);
  CHECK_FALSE(is_replay(probe.call(other)));
  CHECK(probe.runs == 4);
}

TEST_CASE("idempotency: fanout_run's budget.wall_ms keeps its claim live too",
          "[cli][idempotency]") {
  Probe probe;
  const std::int64_t stale_ms = state::StoreOptions{}.request_claim_stale_ms;
  const json::object args{{"budget", json::object{{"wall_ms", 10 * stale_ms}}},
                          {"request_id", "f-1"}};
  std::optional<state::ErrorCode> retry;
  probe.during = [&] {
    probe.clock->advance(5 * stale_ms);
    retry = refused_with([&] { probe.call(args); });
  };
  probe.call(args);
  CHECK(retry == state::ErrorCode::kBusy);
  CHECK(probe.runs == 1);
}

TEST_CASE("idempotency: a call whose stale claim was taken over leaves the retry's claim alone",
          "[cli][idempotency]") {
  Probe probe;
  const std::int64_t stale_ms = state::StoreOptions{}.request_claim_stale_ms;
  const json::object args{{"x", 1}, {"request_id", "t-1"}};
  // The first call runs past claim_stale (no wait_ms); meanwhile its retry
  // takes the claim over and is still running when the first one fails.
  keel::mcp::Tool failing{.name = "probe"};
  state::RequestClaim retry_claim;
  failing.handler = [&](const json::object&,
                        const keel::mcp::CallContext&) -> keel::mcp::ToolResult {
    probe.clock->advance(stale_ms);
    const state::Principal who = principal_for("agent-a", "/proj");
    json::object plain = args;
    plain.erase("request_id");
    retry_claim = probe.store->claim_request(who, "probe", "t-1", canonical_args_hash(plain));
    throw Failure(state::ErrorCode::kInternal, "the first call failed late");
  };
  keel::mcp::Tool decorated = idempotency_decorator(probe.env)(std::move(failing));
  keel::mcp::CallContext ctx;
  ctx.client_name = "agent-a";
  CHECK(refused_with([&] { decorated.handler(args, ctx); }) == state::ErrorCode::kInternal);
  REQUIRE(retry_claim.status == state::RequestClaim::Status::kNew);
  // The first call's failure did not drop the retry's live claim: BUSY.
  CHECK(refused_with([&] { decorated.handler(args, ctx); }) == state::ErrorCode::kBusy);
}

TEST_CASE("idempotency: memory_put with a request_id twice writes once and replays",
          "[cli][idempotency]") {
  Stack stack;
  decorate(stack);
  Client a(stack, "agent-a");
  const json::object args{{"key", "k"}, {"value", {{"n", 1}}}};

  const json::object first = a.call("memory_put", with_id(args, "put-1"));
  REQUIRE_FALSE(first.at("isError").as_bool());
  CHECK_FALSE(is_replay(first));
  CHECK(first.at("structuredContent").at("version") == 1);

  // The same arguments in another key order: the same call.
  const json::object again =
      a.call("memory_put", {{"value", {{"n", 1}}}, {"request_id", "put-1"}, {"key", "k"}});
  REQUIRE_FALSE(again.at("isError").as_bool());
  REQUIRE(is_replay(again));
  CHECK(again.at("_meta").at(kReplayMetaKey).at("request_id") == "put-1");
  CHECK(again.at("structuredContent") == first.at("structuredContent"));
  CHECK_THAT(std::string(again.at("content").at(0).at("text").as_string()),
             Catch::Contains("replay"));
  // ok() also checks the replay against memory_put's outputSchema.
  CHECK(a.ok("memory_put", with_id(args, "put-1")).at("version") == 1);

  CHECK(a.ok("memory_get", {{"key", "k"}}).at("version") == 1);
  CHECK(records(stack, "MEMORY_PUT") == 1);

  // Same id, other arguments: refused, naming the id; nothing written.
  const auto [code, message] =
      a.refused("memory_put", with_id({{"key", "k"}, {"value", 2}}, "put-1"));
  CHECK(code == "INVALID_ARGUMENT");
  CHECK_THAT(message, Catch::Contains("put-1"));
  CHECK(a.ok("memory_get", {{"key", "k"}}).at("version") == 1);

  // A new id runs again; no id runs every time.
  CHECK(a.ok("memory_put", with_id(args, "put-2")).at("version") == 2);
  CHECK(a.ok("memory_put", args).at("version") == 3);
  CHECK(a.ok("memory_put", args).at("version") == 4);
  CHECK(records(stack, "MEMORY_PUT") == 4);

  // Ids are per agent: another agent's put-1 is its own call.
  Client b(stack, "agent-b");
  CHECK(b.ok("memory_put", with_id({{"key", "k"}, {"value", 9}}, "put-1")).at("version") == 1);
}

TEST_CASE("idempotency: a failed call is not remembered; its retry runs again",
          "[cli][idempotency]") {
  Stack stack;
  decorate(stack);
  Client a(stack, "agent-a");
  // expected_version 5 of a missing key: VERSION_MISMATCH, nothing written.
  const json::object cas{{"key", "k"}, {"value", 1}, {"expected_version", 0}};
  CHECK(a.ok("memory_put", {{"key", "k"}, {"value", 0}}).at("version") == 1);
  CHECK(a.refused("memory_put", with_id(cas, "cas-1")).first == "VERSION_MISMATCH");
  a.ok("memory_delete", {{"key", "k"}});
  // The retry runs (and now succeeds), then replays.
  CHECK(a.ok("memory_put", with_id(cas, "cas-1")).at("version") == 1);
  CHECK(is_replay(a.call("memory_put", with_id(cas, "cas-1"))));
}

TEST_CASE("idempotency: while the first call with an id runs, a retry is BUSY",
          "[cli][idempotency]") {
  Stack stack;
  decorate(stack);
  Client a(stack, "agent-a");
  const json::object args{{"key", "k"}, {"value", 1}};
  // The first call's claim, as a call still running in another process holds it.
  const state::Principal who = principal_for("agent-a", stack.project);
  const state::RequestClaim first =
      stack.store->claim_request(who, "memory_put", "slow-1", canonical_args_hash(args));
  REQUIRE(first.status == state::RequestClaim::Status::kNew);

  const auto [code, message] = a.refused("memory_put", with_id(args, "slow-1"));
  CHECK(code == "BUSY");
  CHECK_THAT(message, Catch::Contains("slow-1") && Catch::Contains("still running"));
  CHECK(a.ok("memory_get", {{"key", "k"}}).at("found") == false);

  // Once it finishes, the retry gets its result.
  stack.store->complete_request(
      who, "memory_put", "slow-1", first.claim_id,
      R"({"content":[{"type":"text","text":"stored k version 1"}],)"
      R"("structuredContent":{"tier":"cross_run","namespace":"own","key":"k","version":1},)"
      R"("isError":false})");
  const json::object replay = a.call("memory_put", with_id(args, "slow-1"));
  REQUIRE(is_replay(replay));
  CHECK(replay.at("structuredContent").at("version") == 1);
}

TEST_CASE("idempotency: memory_delete, lease_release and escalation_resolve replay",
          "[cli][idempotency]") {
  Stack stack(kInProject);
  decorate(stack);
  Client a(stack, "agent-a");
  Client ann(stack, "human-ann");

  SECTION("memory_delete") {
    a.ok("memory_put", {{"key", "k"}, {"value", 1}});
    const json::object del = with_id({{"key", "k"}}, "del-1");
    CHECK(a.ok("memory_delete", del).at("deleted") == true);
    a.ok("memory_put", {{"key", "k"}, {"value", 2}});
    // The replay says what the first call did, and deletes nothing now.
    const json::object again = a.call("memory_delete", del);
    REQUIRE(is_replay(again));
    CHECK(again.at("structuredContent").at("deleted") == true);
    CHECK(a.ok("memory_get", {{"key", "k"}}).at("found") == true);
    CHECK(records(stack, "MEMORY_DELETE") == 1);
  }

  SECTION("lease_release") {
    const json::object lease = a.ok("lease_acquire", {{"name", "build"}});
    const json::object rel =
        with_id({{"name", "build"}, {"lease_id", lease.at("lease_id")}}, "rel-1");
    const json::object first = a.ok("lease_release", rel);
    const std::size_t released = records(stack, "RELEASE");
    const json::object again = a.call("lease_release", rel);
    REQUIRE(is_replay(again));
    CHECK(again.at("structuredContent") == first);
    CHECK(records(stack, "RELEASE") == released);
  }

  SECTION("escalation_resolve") {
    const std::int64_t id = a.ok("escalation_request", {{"reason", "drop the cache?"},
                                                        {"context", json::object{}},
                                                        {"proposal", {{"sql", "DROP"}}},
                                                        {"impact", "high"}})
                                .at("id")
                                .as_int64();
    const json::object resolve = with_id({{"id", id}, {"decision", "override"}}, "res-1");
    const json::object first = ann.ok("escalation_resolve", resolve);
    const std::size_t resolved = records(stack, "RESOLVE");
    // Without the id a second resolve is a lost race (CONFLICT); with it, the
    // first answer again.
    const json::object again = ann.call("escalation_resolve", resolve);
    REQUIRE(is_replay(again));
    CHECK(again.at("structuredContent") == first);
    CHECK(records(stack, "RESOLVE") == resolved);
  }
}

TEST_CASE("idempotency: every tool that changes state takes request_id; read-only ones do not",
          "[cli][idempotency]") {
  Stack stack;
  decorate(stack);
  std::size_t mutating = 0;
  for (const keel::mcp::Tool& tool : stack.registry->tools()) {
    INFO(tool.name);
    const json::value* props = tool.input_schema.if_contains("properties");
    const bool has_id = props != nullptr && props->as_object().contains("request_id");
    if (tool.annotations.read_only) {
      CHECK_FALSE(has_id);
      continue;
    }
    ++mutating;
    REQUIRE(has_id);
    const json::object& id = props->at("request_id").as_object();
    CHECK(id.at("type") == "string");
    CHECK(id.contains("maxLength"));
  }
  CHECK(mutating >= 10);
  // The generic one is bounded by the store's ids (lease_acquire's and
  // escalation_request's own have their own bounds).
  const keel::mcp::Tool* put = stack.registry->find("memory_put");
  REQUIRE(put != nullptr);
  CHECK(put->input_schema.at("properties").at("request_id").at("maxLength") ==
        static_cast<std::int64_t>(state::kMaxRequestIdBytes));
}

TEST_CASE("idempotency: the canonical hash ignores key order and request_id",
          "[cli][idempotency]") {
  const json::object a = json::parse(R"({"b":[1,{"y":2,"x":1}],"a":"s"})").as_object();
  const json::object b =
      json::parse(R"({"a":"s","request_id":"r","b":[1,{"x":1,"y":2}]})").as_object();
  CHECK(canonical_args_hash(a) == canonical_args_hash(b));
  const json::object c = json::parse(R"({"a":"s","b":[{"x":1,"y":2},1]})").as_object();
  CHECK(canonical_args_hash(a) != canonical_args_hash(c));
}

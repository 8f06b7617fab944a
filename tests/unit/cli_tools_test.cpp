// The whole in-process stack: MCP connection -> tools/ -> SQLite store.
// Every tool's structuredContent must validate against its own outputSchema,
// and store refusals must reach the model as isError results with a code.
#include <catch2/catch.hpp>

#include <filesystem>
#include <mutex>

#include <boost/json.hpp>

#include "cli_tool_stack.h"

namespace json = boost::json;
using namespace keel::tools::testing;

namespace {

// The code of a refused call.
std::string refused(Client& client, const std::string& tool, json::object args) {
  return client.refused(tool, std::move(args)).first;
}

}  // namespace

TEST_CASE("tools/list shows the twenty-eight tools, each with schemas and annotations") {
  Stack stack;
  Client a(stack, "agent-a");
  auto r = a.request("tools/list", {});
  const auto& tools = r.at("result").at("tools").as_array();
  std::vector<std::string> names;
  for (const auto& t : tools) {
    names.emplace_back(t.at("name").as_string());
    CHECK(t.at("inputSchema").at("type") == "object");
    CHECK(t.at("outputSchema").at("type") == "object");
    CHECK(t.at("annotations").as_object().contains("readOnlyHint"));
    CHECK_FALSE(t.at("description").as_string().empty());
  }
  CHECK(names == std::vector<std::string>{"lease_acquire", "lease_renew", "lease_list",
                                          "lease_release", "lease_request_release",
                                          "lease_downgrade", "memory_get", "memory_put",
                                          "memory_delete", "memory_list", "memory_search",
                                          "memory_take", "memory_txn", "journal_tail", "journal_verify", "journal_replay",
                                          "escalation_request", "escalation_status",
                                          "escalation_list", "escalation_resolve", "fanout_run",
                                          "fanout_status", "fanout_cancel", "agent_list",
                                          "agent_heartbeat", "agent_suspend", "agent_resume",
                                          "lease_adopt"});
}

TEST_CASE("leases through the tools: grant, conflict, renew, release, fenced writes") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b");

  auto grant = a.ok("lease_acquire", {{"name", "file:/repo/src/x.cc"}, {"ttl_ms", 60000}});
  CHECK(grant.at("granted").as_bool());
  CHECK(grant.at("holder") == "agent-a");
  std::int64_t token = grant.at("token").as_int64();
  std::string lease_id(grant.at("lease_id").as_string());

  // The directory above it is in the way for someone else.
  auto denied = b.ok("lease_acquire", {{"name", "dir:/repo/src"}, {"ttl_ms", 1000}});
  CHECK_FALSE(denied.at("granted").as_bool());
  CHECK(denied.at("holder") == "agent-a");
  CHECK(denied.at("holders").as_array().size() == 1);

  auto renewed = a.ok("lease_renew", {{"name", "file:/repo/src/x.cc"}, {"lease_id", lease_id}});
  CHECK(renewed.at("expires_at").as_int64() >= grant.at("expires_at").as_int64());
  CHECK(refused(b, "lease_renew", {{"name", "file:/repo/src/x.cc"}, {"lease_id", lease_id}}) ==
        "PERMISSION_DENIED");
  CHECK(refused(b, "lease_release", {{"name", "file:/repo/src/x.cc"}, {"lease_id", lease_id}}) ==
        "PERMISSION_DENIED");
  CHECK(refused(b, "lease_release", {{"name", "file:/repo/src/x.cc"}, {"force", true}}) ==
        "PERMISSION_DENIED");  // agents lack lease.force by default

  auto listed = b.ok("lease_list", {{"prefix", "file:/repo"}});
  CHECK(listed.at("leases").as_array().size() == 1);

  // A fenced write with the live token is accepted.
  a.ok("memory_put", {{"key", "x.cc/owner"}, {"namespace", "shared"}, {"value", "agent-a"},
                              {"fence", {{"name", "file:/repo/src/x.cc"}, {"token", token}}}});

  auto released = a.ok("lease_release", {{"name", "file:/repo/src/x.cc"}, {"lease_id", lease_id}});
  CHECK(released.at("released").as_bool());
  auto again = a.ok("lease_release", {{"name", "file:/repo/src/x.cc"}, {"lease_id", lease_id}});
  CHECK_FALSE(again.at("released").as_bool());
  CHECK(again.at("outcome") == "already_released");

  auto b_grant = b.ok("lease_acquire", {{"name", "file:/repo/src/x.cc"}, {"ttl_ms", 60000}});
  CHECK(b_grant.at("token").as_int64() > token);
  // a's token is stale now: the write is refused and the value stays b's.
  b.ok("memory_put", {{"key", "x.cc/owner"}, {"namespace", "shared"}, {"value", "agent-b"},
                              {"fence", {{"name", "file:/repo/src/x.cc"}, {"token", b_grant.at("token")}}}});
  CHECK(refused(a, "memory_put", {{"key", "x.cc/owner"}, {"namespace", "shared"}, {"value", "stale"},
                                  {"fence", {{"name", "file:/repo/src/x.cc"}, {"token", token}}}}) ==
        "STALE_FENCE");
  auto owner = a.ok("memory_get", {{"key", "x.cc/owner"}, {"namespace", "shared"}});
  CHECK(owner.at("value") == "agent-b");

  auto refuse_records = a.ok("journal_tail", {{"op", "REFUSE"}});
  CHECK(refuse_records.at("records").as_array().size() >= 2);  // the conflict and the stale fence
}

TEST_CASE("memory through the tools: CAS, namespaces, list, search, delete") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b");

  auto put = a.ok("memory_put", {{"key", "notes/1"}, {"value", {{"text", "hello world"}}},
                                         {"expected_version", 0}});
  CHECK(put.at("version") == 1);
  CHECK(refused(a, "memory_put", {{"key", "notes/1"}, {"value", 1}, {"expected_version", 0}}) ==
        "VERSION_MISMATCH");
  CHECK(a.ok("memory_put", {{"key", "notes/1"}, {"value", {{"text", "hello again"}}},
                                    {"expected_version", 1}})
            .at("version") == 2);

  auto got = a.ok("memory_get", {{"key", "notes/1"}});
  CHECK(got.at("found").as_bool());
  CHECK(got.at("value").at("text") == "hello again");
  CHECK_FALSE(b.ok("memory_get", {{"key", "notes/1"}}).at("found").as_bool());

  for (int i = 0; i < 5; ++i) {
    a.ok("memory_put", {{"key", "list/" + std::to_string(i)}, {"value", i}});
  }
  auto page1 = a.ok("memory_list", {{"prefix", "list/"}, {"limit", 3}});
  CHECK(page1.at("entries").as_array().size() == 3);
  REQUIRE(page1.contains("next_cursor"));
  auto page2 = a.ok("memory_list", {{"prefix", "list/"}, {"limit", 3},
                                            {"cursor", page1.at("next_cursor")}});
  CHECK(page2.at("entries").as_array().size() == 2);
  CHECK_FALSE(page2.contains("next_cursor"));

  b.ok("memory_put", {{"key", "shared/plan"}, {"namespace", "shared"},
                              {"value", {{"step", "refactor the parser"}}}});
  auto hits = a.ok("memory_search", {{"query", "parser"}});
  REQUIRE(hits.at("hits").as_array().size() == 1);
  CHECK(hits.at("hits").as_array()[0].at("namespace") == "shared");
  CHECK(b.ok("memory_search", {{"query", "hello"}}).at("hits").as_array().empty());

  CHECK(a.ok("memory_delete", {{"key", "notes/1"}}).at("deleted").as_bool());
  CHECK_FALSE(a.ok("memory_delete", {{"key", "notes/1"}}).at("deleted").as_bool());

  auto verify = a.ok("journal_verify", {});
  CHECK(verify.at("ok").as_bool());
  CHECK(verify.at("records").as_int64() == 9);  // 7 puts that landed, 1 shared put, 1 delete
  CHECK(a.ok("journal_replay", {}).at("equal").as_bool());
}

TEST_CASE("bad arguments are tool errors naming the field, not protocol errors") {
  Stack stack;
  Client a(stack, "agent-a");
  auto r = a.call("lease_acquire", {{"name", "x"}, {"ttl_ms", "soon"}});
  CHECK(r.at("isError").as_bool());
  CHECK_THAT(std::string(r.at("content").as_array()[0].at("text").as_string()), Catch::Contains("ttl_ms"));
  CHECK(refused(a, "lease_acquire", {{"name", "file:relative/path"}}) == "INVALID_ARGUMENT");
  CHECK(refused(a, "lease_release", {{"name", "x"}}) == "INVALID_ARGUMENT");
  CHECK(refused(a, "memory_put", {{"key", "k"}, {"value", 1}, {"tier", "forever"}}) ==
        "INVALID_ARGUMENT");
  CHECK(refused(a, "memory_put", {{"key", "k"}, {"value", std::string(70000, 'x')}}) == "TOO_LARGE");
  CHECK(refused(a, "memory_list", {{"cursor", "not-a-cursor"}}) == "INVALID_ARGUMENT");
  CHECK(refused(a, "memory_search", {{"query", ""}}) == "INVALID_ARGUMENT");
  auto unknown = a.request("tools/call", {{"name", "no_such_tool"}, {"arguments", json::object{}}});
  CHECK(unknown.at("error").at("code") == -32602);
}

TEST_CASE("agent tools: list, heartbeat, suspend and resume need agent.admin, adopt needs lease.force",
          "[agents]") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b"), admin(stack, "admin");
  for (const char* name : {"agent-a", "agent-b"}) {
    stack.store->register_agent(keel::state::Principal{name, "/proj", "", keel::state::default_agent_capabilities()},
                                keel::state::AgentRegistration{"test"});
  }
  auto grant = a.ok("lease_acquire", {{"name", "file:/repo/x.cc"}, {"ttl_ms", 60000}});
  const std::int64_t token = grant.at("token").as_int64();

  auto listed = b.ok("agent_list", {});
  const auto& agents = listed.at("agents").as_array();
  REQUIRE(agents.size() == 2);
  for (const auto& x : agents) {
    CHECK(x.at("status") == "active");
    if (x.at("name") == "agent-a") CHECK(x.at("leases") == json::array{"file:/repo/x.cc"});
  }

  auto hb = a.ok("agent_heartbeat", {});
  REQUIRE(hb.at("renewed").as_array().size() == 1);
  CHECK(hb.at("renewed").at(0).at("expires_at").as_int64() >= grant.at("expires_at").as_int64());

  // Agents may not stop each other, nor take each other's leases.
  CHECK(refused(b, "agent_suspend", {{"name", "agent-a"}, {"reason", "x"}}) == "PERMISSION_DENIED");
  CHECK(refused(b, "lease_adopt", {{"name", "file:/repo/x.cc"}, {"to", "agent-b"}}) == "PERMISSION_DENIED");
  CHECK(refused(admin, "agent_suspend", {{"name", "nobody"}, {"reason", "x"}}) == "NOT_FOUND");
  CHECK(refused(admin, "lease_adopt", {{"name", "file:/repo/x.cc"}, {"to", "nobody"}}) == "NOT_FOUND");

  auto moved = admin.ok("lease_adopt", {{"name", "file:/repo/x.cc"}, {"to", "agent-b"}});
  CHECK(moved.at("holder") == "agent-b");
  CHECK(moved.at("token").as_int64() > token);

  auto s = admin.ok("agent_suspend", {{"name", "agent-b"}, {"reason", "runaway loop"}});
  CHECK(s.at("status") == "suspended");
  CHECK(s.at("reason") == "runaway loop");
  CHECK(s.at("leases").as_array().empty());  // released with the suspension
  CHECK(refused(b, "lease_acquire", {{"name", "file:/repo/y.cc"}, {"ttl_ms", 1000}}) == "PERMISSION_DENIED");
  auto r = admin.ok("agent_resume", {{"name", "agent-b"}});
  CHECK(r.at("status") == "active");
  CHECK(b.ok("lease_acquire", {{"name", "file:/repo/y.cc"}, {"ttl_ms", 1000}}).at("granted").as_bool());
}

TEST_CASE("memory_get's text carries the version, for clients that show their model only text",
          "[agents]") {
  Stack stack;
  Client a(stack, "agent-a");
  a.ok("memory_put", {{"key", "plan"}, {"value", {{"step", 2}}}});
  a.ok("memory_put", {{"key", "plan"}, {"value", {{"step", 3}}}});
  auto result = a.call("memory_get", {{"key", "plan"}});
  const std::string text(result.at("content").at(0).at("text").as_string());
  CHECK(text.find("version 2") != std::string::npos);
  CHECK(text.find("expected_version 2") != std::string::npos);
  CHECK(text.find("{\"step\":3}") != std::string::npos);
  auto missing = a.call("memory_get", {{"key", "nope"}});
  CHECK(std::string(missing.at("content").at(0).at("text").as_string()).find("expected_version 0") !=
        std::string::npos);
}

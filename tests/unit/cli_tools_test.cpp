// The whole in-process stack: MCP connection -> tools/ -> SQLite store.
// Every tool's structuredContent must validate against its own outputSchema,
// and store refusals must reach the model as isError results with a code.
#include <catch2/catch.hpp>

#include <filesystem>
#include <mutex>

#include <boost/json.hpp>

#include "mcp/schema.h"
#include "mcp/server.h"
#include "tools/tools.h"

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("keel-tools-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

struct Stack {
  TempDir dir;
  std::unique_ptr<keel::state::Store> store;
  std::shared_ptr<keel::mcp::ToolRegistry> registry = std::make_shared<keel::mcp::ToolRegistry>();
  std::unique_ptr<keel::mcp::McpServer> server;

  Stack() {
    keel::state::StoreOptions opts;
    opts.dir = dir.path;
    opts.synchronous = keel::state::Synchronous::kNormal;
    store = keel::state::open_sqlite_store(opts);
    auto env = std::make_shared<keel::tools::ToolEnv>();
    env->store = store.get();
    env->lease_default_ttl_ms = 30'000;
    // Each client's clientInfo.name is its agent.
    // The client "admin" has every capability (a human's token, say).
    env->principal = [](const keel::mcp::CallContext& ctx) {
      auto caps = keel::state::default_agent_capabilities();
      if (ctx.client_name == "admin") {
        const auto& all = keel::state::all_capabilities();
        caps = std::set<std::string>(all.begin(), all.end());
      }
      return keel::state::Principal{ctx.client_name, "/proj", ctx.session_id, caps};
    };
    keel::tools::register_all(*registry, env);
    server = std::make_unique<keel::mcp::McpServer>(keel::mcp::ServerOptions{}, registry);
  }
};

class Client {
 public:
  Client(Stack& stack, const std::string& agent) : agent_(agent) {
    conn_ = stack.server->connect(
        [this](const json::value& v) {
          std::lock_guard lock(mu_);
          sent_.push_back(v);
        },
        "session-" + agent);
    auto init = request("initialize", {{"protocolVersion", "2025-11-25"},
                                       {"capabilities", json::object{}},
                                       {"clientInfo", {{"name", agent}, {"version", "1"}}}});
    REQUIRE(init.as_object().contains("result"));
    conn_->handle(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }

  json::value request(const std::string& method, json::object params) {
    int id = ++next_id_;
    json::object msg{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
    conn_->handle(json::serialize(msg));
    std::lock_guard lock(mu_);
    for (const auto& v : sent_) {
      if (v.is_object() && v.as_object().contains("id") && v.as_object().at("id") == json::value(id)) {
        return v;
      }
    }
    FAIL("no response to " << method);
    return {};
  }

  // tools/call; returns the CallToolResult object.
  json::object call(const std::string& tool, json::object args) {
    auto r = request("tools/call", {{"name", tool}, {"arguments", args}});
    REQUIRE(r.as_object().contains("result"));
    return r.as_object().at("result").as_object();
  }

  const std::string& agent() const { return agent_; }

 private:
  std::string agent_;
  std::unique_ptr<keel::mcp::Connection> conn_;
  std::mutex mu_;
  std::vector<json::value> sent_;
  int next_id_ = 0;
};

// A successful call whose structuredContent validates against the tool's
// outputSchema; returns the structuredContent.
json::object ok(Stack& stack, Client& client, const std::string& tool, json::object args) {
  json::object result = client.call(tool, args);
  INFO(tool << " -> " << json::serialize(result));
  REQUIRE_FALSE(result.at("isError").as_bool());
  REQUIRE(result.at("content").as_array().size() >= 1);
  REQUIRE(result.at("content").as_array()[0].at("type") == "text");
  const auto* t = stack.registry->find(tool);
  REQUIRE(t != nullptr);
  auto errors = keel::mcp::validate_schema(t->output_schema, result.at("structuredContent"));
  INFO(keel::mcp::join_errors(errors, "; "));
  CHECK(errors.empty());
  return result.at("structuredContent").as_object();
}

// A refused call: isError with {"error":{"code":...}}; returns the code.
std::string refused(Client& client, const std::string& tool, json::object args) {
  json::object result = client.call(tool, args);
  INFO(tool << " -> " << json::serialize(result));
  REQUIRE(result.at("isError").as_bool());
  CHECK_FALSE(result.contains("structuredContent"));
  return std::string(result.at("_meta").at("dev.keel/error").at("code").as_string());
}

}  // namespace

TEST_CASE("tools/list shows the twenty-four tools, each with schemas and annotations") {
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
  CHECK(names == std::vector<std::string>{"lease_acquire", "lease_renew", "lease_release",
                                          "lease_list", "memory_get", "memory_put",
                                          "memory_delete", "memory_list", "memory_search",
                                          "journal_tail", "journal_verify", "journal_replay",
                                          "escalation_request", "escalation_status",
                                          "escalation_list", "escalation_resolve", "fanout_run",
                                          "fanout_status", "fanout_cancel", "agent_list",
                                          "agent_heartbeat", "agent_suspend", "agent_resume",
                                          "lease_adopt"});
}

TEST_CASE("leases through the tools: grant, conflict, renew, release, fenced writes") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b");

  auto grant = ok(stack, a, "lease_acquire", {{"name", "file:/repo/src/x.cc"}, {"ttl_ms", 60000}});
  CHECK(grant.at("granted").as_bool());
  CHECK(grant.at("holder") == "agent-a");
  std::int64_t token = grant.at("token").as_int64();
  std::string lease_id(grant.at("lease_id").as_string());

  // The directory above it is in the way for someone else.
  auto denied = ok(stack, b, "lease_acquire", {{"name", "dir:/repo/src"}, {"ttl_ms", 1000}});
  CHECK_FALSE(denied.at("granted").as_bool());
  CHECK(denied.at("holder") == "agent-a");
  CHECK(denied.at("holders").as_array().size() == 1);

  auto renewed = ok(stack, a, "lease_renew", {{"name", "file:/repo/src/x.cc"}, {"lease_id", lease_id}});
  CHECK(renewed.at("expires_at").as_int64() >= grant.at("expires_at").as_int64());
  CHECK(refused(b, "lease_renew", {{"name", "file:/repo/src/x.cc"}, {"lease_id", lease_id}}) ==
        "PERMISSION_DENIED");
  CHECK(refused(b, "lease_release", {{"name", "file:/repo/src/x.cc"}, {"lease_id", lease_id}}) ==
        "PERMISSION_DENIED");
  CHECK(refused(b, "lease_release", {{"name", "file:/repo/src/x.cc"}, {"force", true}}) ==
        "PERMISSION_DENIED");  // agents lack lease.force by default

  auto listed = ok(stack, b, "lease_list", {{"prefix", "file:/repo"}});
  CHECK(listed.at("leases").as_array().size() == 1);

  // A fenced write with the live token is accepted.
  ok(stack, a, "memory_put", {{"key", "x.cc/owner"}, {"namespace", "shared"}, {"value", "agent-a"},
                              {"fence", {{"name", "file:/repo/src/x.cc"}, {"token", token}}}});

  auto released = ok(stack, a, "lease_release", {{"name", "file:/repo/src/x.cc"}, {"lease_id", lease_id}});
  CHECK(released.at("released").as_bool());
  auto again = ok(stack, a, "lease_release", {{"name", "file:/repo/src/x.cc"}, {"lease_id", lease_id}});
  CHECK_FALSE(again.at("released").as_bool());
  CHECK(again.at("outcome") == "already_released");

  auto b_grant = ok(stack, b, "lease_acquire", {{"name", "file:/repo/src/x.cc"}, {"ttl_ms", 60000}});
  CHECK(b_grant.at("token").as_int64() > token);
  // a's token is stale now: the write is refused and the value stays b's.
  ok(stack, b, "memory_put", {{"key", "x.cc/owner"}, {"namespace", "shared"}, {"value", "agent-b"},
                              {"fence", {{"name", "file:/repo/src/x.cc"}, {"token", b_grant.at("token")}}}});
  CHECK(refused(a, "memory_put", {{"key", "x.cc/owner"}, {"namespace", "shared"}, {"value", "stale"},
                                  {"fence", {{"name", "file:/repo/src/x.cc"}, {"token", token}}}}) ==
        "STALE_FENCE");
  auto owner = ok(stack, a, "memory_get", {{"key", "x.cc/owner"}, {"namespace", "shared"}});
  CHECK(owner.at("value") == "agent-b");

  auto refuse_records = ok(stack, a, "journal_tail", {{"op", "REFUSE"}});
  CHECK(refuse_records.at("records").as_array().size() >= 2);  // the conflict and the stale fence
}

TEST_CASE("memory through the tools: CAS, namespaces, list, search, delete") {
  Stack stack;
  Client a(stack, "agent-a"), b(stack, "agent-b");

  auto put = ok(stack, a, "memory_put", {{"key", "notes/1"}, {"value", {{"text", "hello world"}}},
                                         {"expected_version", 0}});
  CHECK(put.at("version") == 1);
  CHECK(refused(a, "memory_put", {{"key", "notes/1"}, {"value", 1}, {"expected_version", 0}}) ==
        "VERSION_MISMATCH");
  CHECK(ok(stack, a, "memory_put", {{"key", "notes/1"}, {"value", {{"text", "hello again"}}},
                                    {"expected_version", 1}})
            .at("version") == 2);

  auto got = ok(stack, a, "memory_get", {{"key", "notes/1"}});
  CHECK(got.at("found").as_bool());
  CHECK(got.at("value").at("text") == "hello again");
  CHECK_FALSE(ok(stack, b, "memory_get", {{"key", "notes/1"}}).at("found").as_bool());

  for (int i = 0; i < 5; ++i) {
    ok(stack, a, "memory_put", {{"key", "list/" + std::to_string(i)}, {"value", i}});
  }
  auto page1 = ok(stack, a, "memory_list", {{"prefix", "list/"}, {"limit", 3}});
  CHECK(page1.at("entries").as_array().size() == 3);
  REQUIRE(page1.contains("next_cursor"));
  auto page2 = ok(stack, a, "memory_list", {{"prefix", "list/"}, {"limit", 3},
                                            {"cursor", page1.at("next_cursor")}});
  CHECK(page2.at("entries").as_array().size() == 2);
  CHECK_FALSE(page2.contains("next_cursor"));

  ok(stack, b, "memory_put", {{"key", "shared/plan"}, {"namespace", "shared"},
                              {"value", {{"step", "refactor the parser"}}}});
  auto hits = ok(stack, a, "memory_search", {{"query", "parser"}});
  REQUIRE(hits.at("hits").as_array().size() == 1);
  CHECK(hits.at("hits").as_array()[0].at("namespace") == "shared");
  CHECK(ok(stack, b, "memory_search", {{"query", "hello"}}).at("hits").as_array().empty());

  CHECK(ok(stack, a, "memory_delete", {{"key", "notes/1"}}).at("deleted").as_bool());
  CHECK_FALSE(ok(stack, a, "memory_delete", {{"key", "notes/1"}}).at("deleted").as_bool());

  auto verify = ok(stack, a, "journal_verify", {});
  CHECK(verify.at("ok").as_bool());
  CHECK(verify.at("records").as_int64() == 9);  // 7 puts that landed, 1 shared put, 1 delete
  CHECK(ok(stack, a, "journal_replay", {}).at("equal").as_bool());
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
  auto grant = ok(stack, a, "lease_acquire", {{"name", "file:/repo/x.cc"}, {"ttl_ms", 60000}});
  const std::int64_t token = grant.at("token").as_int64();

  auto listed = ok(stack, b, "agent_list", {});
  const auto& agents = listed.at("agents").as_array();
  REQUIRE(agents.size() == 2);
  for (const auto& x : agents) {
    CHECK(x.at("status") == "active");
    if (x.at("name") == "agent-a") CHECK(x.at("leases") == json::array{"file:/repo/x.cc"});
  }

  auto hb = ok(stack, a, "agent_heartbeat", {});
  REQUIRE(hb.at("renewed").as_array().size() == 1);
  CHECK(hb.at("renewed").at(0).at("expires_at").as_int64() >= grant.at("expires_at").as_int64());

  // Agents may not stop each other, nor take each other's leases.
  CHECK(refused(b, "agent_suspend", {{"name", "agent-a"}, {"reason", "x"}}) == "PERMISSION_DENIED");
  CHECK(refused(b, "lease_adopt", {{"name", "file:/repo/x.cc"}, {"to", "agent-b"}}) == "PERMISSION_DENIED");
  CHECK(refused(admin, "agent_suspend", {{"name", "nobody"}, {"reason", "x"}}) == "NOT_FOUND");
  CHECK(refused(admin, "lease_adopt", {{"name", "file:/repo/x.cc"}, {"to", "nobody"}}) == "NOT_FOUND");

  auto moved = ok(stack, admin, "lease_adopt", {{"name", "file:/repo/x.cc"}, {"to", "agent-b"}});
  CHECK(moved.at("holder") == "agent-b");
  CHECK(moved.at("token").as_int64() > token);

  auto s = ok(stack, admin, "agent_suspend", {{"name", "agent-b"}, {"reason", "runaway loop"}});
  CHECK(s.at("status") == "suspended");
  CHECK(s.at("reason") == "runaway loop");
  CHECK(s.at("leases").as_array().empty());  // released with the suspension
  CHECK(refused(b, "lease_acquire", {{"name", "file:/repo/y.cc"}, {"ttl_ms", 1000}}) == "PERMISSION_DENIED");
  auto r = ok(stack, admin, "agent_resume", {{"name", "agent-b"}});
  CHECK(r.at("status") == "active");
  CHECK(ok(stack, b, "lease_acquire", {{"name", "file:/repo/y.cc"}, {"ttl_ms", 1000}}).at("granted").as_bool());
}

TEST_CASE("memory_get's text carries the version, for clients that show their model only text",
          "[agents]") {
  Stack stack;
  Client a(stack, "agent-a");
  ok(stack, a, "memory_put", {{"key", "plan"}, {"value", {{"step", 2}}}});
  ok(stack, a, "memory_put", {{"key", "plan"}, {"value", {{"step", 3}}}});
  auto result = a.call("memory_get", {{"key", "plan"}});
  const std::string text(result.at("content").at(0).at("text").as_string());
  CHECK(text.find("version 2") != std::string::npos);
  CHECK(text.find("expected_version 2") != std::string::npos);
  CHECK(text.find("{\"step\":3}") != std::string::npos);
  auto missing = a.call("memory_get", {{"key", "nope"}});
  CHECK(std::string(missing.at("content").at(0).at("text").as_string()).find("expected_version 0") !=
        std::string::npos);
}

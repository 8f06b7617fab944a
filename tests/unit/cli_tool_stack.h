// Shared fixture of the tool tests (cli_tools_test, cli_escalation_test,
// cli_fanout_test, cli_tool_fanout_policy_test): the whole in-process stack —
// MCP connection -> tools/ -> SQLite store — and a client that speaks to it.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "mcp/schema.h"
#include "mcp/server.h"
#include "state_test_util.h"
#include "tools/tools.h"

namespace keel::tools::testing {

namespace json = boost::json;

// A temporary directory (removed with it) holding project/ and state/.
struct Sandbox {
  state::testing::TempDir tmp;
  std::filesystem::path root = std::filesystem::canonical(tmp.path());

  Sandbox() { std::filesystem::create_directories(project()); }
  std::filesystem::path project() const { return root / "project"; }
  std::filesystem::path state() const { return root / "state"; }
};

// Clients named "admin" or "human*" act with every capability, the others
// with `caps`.
inline state::Principal principal_for(const std::string& name, const std::string& project,
                                      const std::string& session = "",
                                      std::set<std::string> caps = state::default_agent_capabilities()) {
  if (name == "admin" || name.rfind("human", 0) == 0) {
    const auto& all = state::all_capabilities();
    caps = std::set<std::string>(all.begin(), all.end());
  }
  return state::Principal{name, project, session, std::move(caps)};
}

struct StackOptions {
  std::function<void(ToolEnv&)> configure{};  // the gate, the escalation filer, limits...
  std::set<std::string> caps = state::default_agent_capabilities();  // of the agents
  bool in_sandbox_project = false;  // the principals' project: sandbox.project(), else "/proj"
};

// Every tool, over a store in the sandbox; a client's clientInfo.name is its agent.
struct Stack {
  Sandbox sandbox;
  std::string project;
  std::unique_ptr<state::Store> store;
  std::shared_ptr<mcp::ToolRegistry> registry = std::make_shared<mcp::ToolRegistry>();
  std::unique_ptr<mcp::McpServer> server;

  explicit Stack(StackOptions options = {})
      : project(options.in_sandbox_project ? sandbox.project().string() : "/proj") {
    state::StoreOptions opts;
    opts.dir = sandbox.state();
    opts.synchronous = state::Synchronous::kNormal;
    store = state::open_sqlite_store(opts);
    auto env = std::make_shared<ToolEnv>();
    env->store = store.get();
    env->registry = registry.get();
    env->lease_default_ttl_ms = 30'000;
    env->principal = [project = project, caps = options.caps](const mcp::CallContext& ctx) {
      return principal_for(ctx.client_name, project, ctx.session_id, caps);
    };
    if (options.configure) options.configure(*env);
    register_all(*registry, env);
    server = std::make_unique<mcp::McpServer>(mcp::ServerOptions{}, registry);
  }
  explicit Stack(std::function<void(ToolEnv&)> configure,
                 std::set<std::string> caps = state::default_agent_capabilities())
      : Stack(StackOptions{std::move(configure), std::move(caps)}) {}
};

// A legacy (2025-11-25) client; modern_call sends 2026-07-28 requests on the
// same connection.
class Client {
 public:
  // With `sampling`, the client declares the capability and answers every
  // sampling/createMessage with the text "42" (from another thread, as a
  // transport would).
  Client(Stack& stack, const std::string& agent, bool sampling = false)
      : stack_(stack), agent_(agent) {
    conn_ = stack.server->connect([this](const json::value& v) { receive(v); }, "session-" + agent);
    json::object caps;
    if (sampling) caps["sampling"] = json::object{};
    auto init = request("initialize", {{"protocolVersion", "2025-11-25"},
                                       {"capabilities", caps},
                                       {"clientInfo", {{"name", agent}, {"version", "1"}}}});
    REQUIRE(init.as_object().contains("result"));
    conn_->handle(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }

  ~Client() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(answerers_);
    }
    for (auto& t : threads) t.join();  // under no lock
  }

  const std::string& agent() const { return agent_; }

  int send_request(const std::string& method, json::object params) {
    const int id = next_id();
    json::object msg{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
    conn_->handle(json::serialize(msg));
    return id;
  }

  std::optional<json::value> response(int id) {
    std::lock_guard lock(mu_);
    for (const auto& v : sent_) {
      if (v.is_object() && v.as_object().contains("id") && v.as_object().at("id") == json::value(id)) {
        return v;
      }
    }
    return std::nullopt;
  }

  // Safe from any thread: it uses no Catch2 macro (Catch2 is not thread-safe).
  std::optional<json::value> try_request(const std::string& method, json::object params) {
    return response(send_request(method, std::move(params)));
  }

  json::value request(const std::string& method, json::object params) {
    auto r = try_request(method, std::move(params));
    if (!r) FAIL("no response to " << method);
    return *r;
  }

  // tools/call; returns the CallToolResult.
  json::object call(const std::string& tool, json::object args, json::object meta = {}) {
    json::object params{{"name", tool}, {"arguments", args}};
    if (!meta.empty()) params["_meta"] = meta;
    auto r = request("tools/call", params);
    INFO(json::serialize(r));
    REQUIRE(r.as_object().contains("result"));
    return r.as_object().at("result").as_object();
  }

  // A 2026-07-28 tools/call (the client declares elicitation); returns the
  // whole JSON-RPC response.
  json::value modern_call(const std::string& tool, json::object args, json::object extra = {}) {
    json::object meta{{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
                      {"io.modelcontextprotocol/clientCapabilities",
                       json::object{{"elicitation", json::object{}}}},
                      {"io.modelcontextprotocol/clientInfo",
                       json::object{{"name", agent_}, {"version", "2"}}}};
    json::object params{{"name", tool}, {"arguments", args}, {"_meta", meta}};
    for (auto& [k, v] : extra) params[k] = v;
    return request("tools/call", params);
  }

  // Starts a tools/call on another thread (it blocks until the call ends).
  std::thread call_async(const std::string& tool, json::object args, int& id_out) {
    id_out = next_id();
    json::object msg{{"jsonrpc", "2.0"},
                     {"id", id_out},
                     {"method", "tools/call"},
                     {"params", {{"name", tool}, {"arguments", args}}}};
    return std::thread([this, text = json::serialize(msg)] { conn_->handle(text); });
  }

  void notify(const std::string& method, json::object params) {
    json::object msg{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}};
    conn_->handle(json::serialize(msg));
  }

  std::vector<json::value> notifications(const std::string& method) {
    std::lock_guard lock(mu_);
    std::vector<json::value> out;
    for (const auto& v : sent_) {
      if (v.is_object() && v.as_object().contains("method") && v.at("method") == json::value(method)) {
        out.push_back(v);
      }
    }
    return out;
  }

  // A successful call whose structuredContent validates against the tool's
  // outputSchema; returns the structuredContent.
  json::object ok(const std::string& tool, json::object args, json::object meta = {}) {
    json::object result = call(tool, args, meta);
    INFO(tool << " -> " << json::serialize(result));
    REQUIRE_FALSE(result.at("isError").as_bool());
    REQUIRE(result.at("content").as_array().size() >= 1);
    REQUIRE(result.at("content").as_array()[0].at("type") == "text");
    const auto* t = stack_.registry->find(tool);
    REQUIRE(t != nullptr);
    auto errors = mcp::validate_schema(t->output_schema, result.at("structuredContent"));
    INFO(mcp::join_errors(errors, "; "));
    CHECK(errors.empty());
    return result.at("structuredContent").as_object();
  }

  // A refused call: an isError result without structuredContent; returns the
  // {code, message} of its _meta["dev.keel/error"].
  std::pair<std::string, std::string> refused(const std::string& tool, json::object args) {
    json::object result = call(tool, args);
    INFO(tool << " -> " << json::serialize(result));
    REQUIRE(result.at("isError").as_bool());
    CHECK_FALSE(result.contains("structuredContent"));
    const auto& e = result.at("_meta").at("dev.keel/error");
    return {std::string(e.at("code").as_string()), std::string(e.at("message").as_string())};
  }

 private:
  int next_id() {
    std::lock_guard lock(mu_);
    return ++next_id_;
  }

  void receive(const json::value& v) {
    std::lock_guard lock(mu_);
    sent_.push_back(v);
    if (v.is_object() && v.as_object().contains("id") && v.as_object().if_contains("method") &&
        v.at("method") == "sampling/createMessage") {
      json::object answer{{"jsonrpc", "2.0"},
                          {"id", v.at("id")},
                          {"result", {{"role", "assistant"},
                                      {"content", {{"type", "text"}, {"text", "42"}}},
                                      {"model", "test-model"},
                                      {"stopReason", "endTurn"}}}};
      answerers_.emplace_back([this, text = json::serialize(answer)] { conn_->handle(text); });
    }
  }

  Stack& stack_;
  std::string agent_;
  std::unique_ptr<mcp::Connection> conn_;
  std::mutex mu_;
  std::vector<std::thread> answerers_;
  std::vector<json::value> sent_;
  int next_id_ = 0;
};

}  // namespace keel::tools::testing

// Unit tests: McpServer / Connection — both eras, tools, progress,
// cancellation, logging — driven through Connection::handle with a fake
// tool registry and a captured `send`.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>

#include <boost/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "mcp/server.h"

namespace json = boost::json;
using namespace keel::mcp;
using namespace std::chrono_literals;

namespace {

// Tests must not write logs to stdout; keep them on stderr and quiet.
const bool kLogSetup = [] {
  auto logger = spdlog::stderr_color_mt("mcp-tests");
  logger->set_level(spdlog::level::critical);
  spdlog::set_default_logger(logger);
  return true;
}();

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

struct Probe {
  std::atomic<bool> wait_started{false};
  std::atomic<bool> wait_saw_cancel{false};
  std::atomic<bool> wait_finished{false};
  std::atomic<bool> release{false};
};

std::shared_ptr<ToolRegistry> make_registry(std::shared_ptr<Probe> probe) {
  auto reg = std::make_shared<ToolRegistry>();
  reg->add(Tool{
      .name = "echo",
      .title = "Echo",
      .description = "Echoes its arguments.",
      .input_schema = obj(R"({"type":"object",
          "properties":{"text":{"type":"string","minLength":1},
                        "n":{"type":"integer","minimum":1},
                        "mode":{"type":"string","enum":["a","b"]}},
          "required":["text"],"additionalProperties":false})"),
      .output_schema = obj(R"({"type":"object","properties":{"text":{"type":"string"}}})"),
      .annotations = {.read_only = true, .idempotent = true},
      .handler =
          [](const json::object& args, const CallContext& ctx) {
            json::object out;
            out["text"] = args.at("text");
            if (auto* n = args.if_contains("n")) out["n"] = n->as_int64();  // 2.0 arrives as 2
            out["client"] = ctx.client_name;
            out["modern"] = ctx.modern;
            out["version"] = ctx.protocol_version;
            out["session"] = ctx.session_id;
            return ToolResult{json::value(std::move(out)), ""};
          },
  });
  reg->add(Tool{
      .name = "fail",
      .description = "Always a tool error.",
      .input_schema = obj(R"({"type":"object","additionalProperties":false})"),
      .annotations = {.destructive = true},
      .handler = [](const json::object&, const CallContext&) -> ToolResult {
        throw ToolError("CONFLICT", "lease held by B");
      },
  });
  reg->add(Tool{
      .name = "boom",
      .description = "Throws something unexpected.",
      .input_schema = {},
      .handler = [](const json::object&, const CallContext&) -> ToolResult {
        throw std::runtime_error("secret internal detail");
      },
  });
  reg->add(Tool{
      .name = "wait",
      .description = "Waits until cancelled or released.",
      .input_schema = obj(R"({"type":"object"})"),
      .handler =
          [probe](const json::object&, const CallContext& ctx) {
            probe->wait_started = true;
            auto deadline = std::chrono::steady_clock::now() + 10s;
            while (!ctx.cancelled() && !probe->release && std::chrono::steady_clock::now() < deadline) {
              std::this_thread::sleep_for(1ms);
            }
            probe->wait_saw_cancel = ctx.cancelled();
            probe->wait_finished = true;
            return ToolResult{json::object{{"cancelled", ctx.cancelled()}}, "waited"};
          },
  });
  reg->add(Tool{
      .name = "progress",
      .description = "Reports progress.",
      .input_schema = obj(R"({"type":"object"})"),
      .handler =
          [](const json::object&, const CallContext& ctx) {
            ctx.progress(0, 100, "start");
            ctx.progress(50, 100, "");
            ctx.progress(50, 100, "again");  // not increasing: dropped
            ctx.progress(25, 100, "back");   // dropped
            ctx.progress(100, 100, "done");
            ctx.log(LogLevel::info, "progress", json::value("working"));
            ctx.log(LogLevel::debug, "", json::value("detail"));
            return ToolResult{json::object{{"ok", true}}, "done"};
          },
  });
  reg->add(Tool{
      .name = "scalar",
      .description = "Structured content that is not an object.",
      .input_schema = obj(R"({"type":"object"})"),
      .handler = [](const json::object&, const CallContext&) { return ToolResult{json::value(42), ""}; },
  });
  return reg;
}

// A connection plus everything it sent.
class Client {
 public:
  explicit Client(ServerOptions opts = {}, std::shared_ptr<Probe> probe = std::make_shared<Probe>())
      : probe_(probe), server_(std::move(opts), make_registry(probe)) {
    conn_ = server_.connect(
        [this](const json::value& v) {
          std::lock_guard lock(mu_);
          sent_.push_back(v);
        },
        "sess-1");
  }

  // Sends raw text; returns what was sent in reply (all messages).
  std::vector<json::value> raw(std::string_view text) {
    const std::size_t before = count();
    conn_->handle(text);
    std::lock_guard lock(mu_);
    return {sent_.begin() + static_cast<std::ptrdiff_t>(before), sent_.end()};
  }

  // Sends one request and returns the single response.
  json::value request(std::string_view text) {
    auto out = raw(text);
    REQUIRE(out.size() == 1);
    return out.front();
  }

  json::value request(std::int64_t id, std::string_view method, std::string_view params = "{}") {
    json::object msg{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
    msg["params"] = json::parse(params);
    return request(json::serialize(msg));
  }

  void initialize(std::string_view version = "2025-11-25") {
    auto r = request(json::serialize(json::object{
        {"jsonrpc", "2.0"},
        {"id", 0},
        {"method", "initialize"},
        {"params",
         {{"protocolVersion", version},
          {"capabilities", {{"elicitation", json::object{}}}},
          {"clientInfo", {{"name", "unit-client"}, {"version", "9.9"}}}}}}));
    REQUIRE(r.as_object().contains("result"));
    CHECK(raw(R"({"jsonrpc":"2.0","method":"notifications/initialized"})").empty());
  }

  std::size_t count() {
    std::lock_guard lock(mu_);
    return sent_.size();
  }
  std::vector<json::value> sent() {
    std::lock_guard lock(mu_);
    return sent_;
  }

  Connection& conn() { return *conn_; }
  Probe& probe() { return *probe_; }

 private:
  std::shared_ptr<Probe> probe_;
  McpServer server_;
  std::mutex mu_;
  std::vector<json::value> sent_;
  std::unique_ptr<Connection> conn_;
};

int error_code(const json::value& v) {
  REQUIRE(v.as_object().contains("error"));
  return static_cast<int>(v.at("error").at("code").as_int64());
}

const json::object& result(const json::value& v) {
  if (!v.as_object().contains("result")) FAIL("expected a result, got " << json::serialize(v));
  return v.at("result").as_object();
}

std::string modern_params(std::string_view extra = "", std::string_view version = "2026-07-28") {
  std::string p = R"({"_meta":{"io.modelcontextprotocol/protocolVersion":")" + std::string(version) +
                  R"(","io.modelcontextprotocol/clientCapabilities":{},)" +
                  R"("io.modelcontextprotocol/clientInfo":{"name":"modern-client","version":"2"}}})";
  if (!extra.empty()) {
    p.pop_back();
    p += ",";
    p += extra;
    p += "}";
  }
  return p;
}

}  // namespace

// --- legacy era -----------------------------------------------------------------

TEST_CASE("legacy: initialize negotiates the version", "[mcp][legacy]") {
  ServerOptions opts;
  opts.instructions = "use leases";
  for (auto [requested, expected] : std::vector<std::pair<std::string, std::string>>{
           {"2025-11-25", "2025-11-25"},
           {"2025-06-18", "2025-06-18"},
           {"2025-03-26", "2025-03-26"},
           {"2024-11-05", "2024-11-05"},
           {"2031-01-01", "2025-11-25"},
           {"2026-07-28", "2025-11-25"}}) {
    Client c(opts);
    CHECK_FALSE(c.conn().legacy_version().has_value());
    auto r = c.request(json::serialize(json::object{
        {"jsonrpc", "2.0"},
        {"id", "init"},
        {"method", "initialize"},
        {"params", {{"protocolVersion", requested}, {"capabilities", json::object{}},
                    {"clientInfo", {{"name", "x"}, {"version", "1"}}}}}}));
    CHECK(r.at("id") == "init");
    const auto& res = result(r);
    CHECK(res.at("protocolVersion") == json::value(expected));
    CHECK(res.at("capabilities").at("tools").at("listChanged") == true);
    CHECK(res.at("capabilities").as_object().contains("logging"));
    CHECK_FALSE(res.at("capabilities").as_object().contains("resources"));
    CHECK(res.at("serverInfo").at("name") == "keel");
    CHECK(res.at("serverInfo").at("version") == "0.1.0");
    CHECK(res.at("instructions") == "use leases");
    CHECK_FALSE(res.contains("resultType"));
    CHECK(c.conn().legacy_version() == expected);
  }
}

TEST_CASE("legacy: lifecycle errors", "[mcp][legacy]") {
  Client c;
  // Before initialize: only ping works.
  auto r = c.request(1, "tools/list");
  CHECK(error_code(r) == -32600);
  CHECK(r.at("id") == 1);
  CHECK(std::string(r.at("error").at("message").as_string()).find("not initialized") !=
        std::string::npos);
  CHECK(result(c.request(2, "ping")).empty());
  CHECK(error_code(c.request(3, "initialize", R"({"capabilities":{}})")) == -32602);
  CHECK(error_code(c.request(4, "initialize", R"({"protocolVersion":"2025-11-25","capabilities":1})")) ==
        -32602);

  c.initialize();
  // Second initialize.
  CHECK(error_code(c.request(5, "initialize", R"({"protocolVersion":"2025-11-25"})")) == -32600);
  CHECK(result(c.request(6, "ping")).empty());
  // Method not found.
  auto nf = c.request(7, "resources/list");
  CHECK(error_code(nf) == -32601);
  CHECK(nf.at("id") == 7);
  // server/discover without _meta is a malformed modern request.
  CHECK(error_code(c.request(8, "server/discover")) == -32602);
  // logging/setLevel.
  CHECK(result(c.request(9, "logging/setLevel", R"({"level":"debug"})")).empty());
  CHECK(error_code(c.request(10, "logging/setLevel", R"({"level":"loud"})")) == -32602);
}

TEST_CASE("legacy: protocol-level malformed input", "[mcp][legacy]") {
  Client c;
  auto pe = c.request("{not json");
  CHECK(error_code(pe) == -32700);
  CHECK(pe.at("id").is_null());

  auto batch = c.request(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  CHECK(error_code(batch) == -32600);
  CHECK(batch.at("id").is_null());

  auto ver = c.request(R"({"jsonrpc":"1.0","id":"v","method":"ping"})");
  CHECK(error_code(ver) == -32600);
  CHECK(ver.at("id") == "v");

  CHECK(error_code(c.request(R"({"jsonrpc":"2.0","id":2,"method":"ping","params":[]})")) == -32600);

  // Notifications never get a reply, even malformed or unknown ones.
  CHECK(c.raw(R"({"jsonrpc":"2.0","method":"notifications/whatever","params":{}})").empty());
  CHECK(c.raw(R"({"jsonrpc":"1.0","method":"notifications/whatever"})").empty());
  CHECK(c.raw(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":999}})").empty());
  CHECK(c.raw(R"({"jsonrpc":"2.0","method":"notifications/cancelled"})").empty());
  // Responses from the client are ignored.
  CHECK(c.raw(R"({"jsonrpc":"2.0","id":5,"result":{}})").empty());
  CHECK(c.raw(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}})").empty());
}

TEST_CASE("legacy: oversize message is -32600", "[mcp][legacy]") {
  ServerOptions opts;
  opts.max_message_bytes = 64;
  Client c(opts);
  auto r = c.request(R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":")" +
                     std::string(100, 'x') + "\"}}");
  CHECK(error_code(r) == -32600);
  CHECK(r.at("id").is_null());
  CHECK(result(c.request(2, "ping")).empty());
}

// --- tools ------------------------------------------------------------------------

TEST_CASE("tools/list: pagination, shape and invalid cursors", "[mcp][tools]") {
  ServerOptions opts;
  opts.tools_page_size = 2;
  Client c(opts);
  c.initialize();
  std::vector<std::string> names;
  json::value cursor;
  int pages = 0;
  do {
    std::string params = cursor.is_null() ? "{}" : json::serialize(json::object{{"cursor", cursor}});
    auto r = c.request(100 + pages, "tools/list", params);
    const auto& res = result(r);
    const auto& tools = res.at("tools").as_array();
    CHECK(tools.size() <= 2);
    for (const auto& t : tools) names.emplace_back(t.at("name").as_string());
    CHECK_FALSE(res.contains("ttlMs"));  // legacy: no caching hints
    cursor = res.contains("nextCursor") ? res.at("nextCursor") : json::value(nullptr);
    ++pages;
  } while (!cursor.is_null() && pages < 10);
  CHECK(pages == 3);
  CHECK(names == std::vector<std::string>{"echo", "fail", "boom", "wait", "progress", "scalar"});

  // Shape of one tool.
  auto first = result(c.request(200, "tools/list")).at("tools").at(0).as_object();
  CHECK(first.at("title") == "Echo");
  CHECK(first.at("description") == "Echoes its arguments.");
  CHECK(first.at("inputSchema").at("type") == "object");
  CHECK(first.at("outputSchema").at("type") == "object");
  CHECK(first.at("annotations").at("readOnlyHint") == true);
  CHECK(first.at("annotations").at("destructiveHint") == false);
  CHECK(first.at("annotations").at("idempotentHint") == true);
  CHECK(first.at("annotations").at("openWorldHint") == false);
  auto second = result(c.request(201, "tools/list")).at("tools").at(1).as_object();
  CHECK_FALSE(second.contains("title"));
  CHECK_FALSE(second.contains("outputSchema"));
  CHECK(second.at("annotations").at("destructiveHint") == true);
  // A tool registered with an empty inputSchema still lists an object schema.
  auto boom = result(c.request(202, "tools/list", json::serialize(json::object{
                                                      {"cursor", result(c.request(203, "tools/list"))
                                                                     .at("nextCursor")}})))
                  .at("tools")
                  .at(0);
  CHECK(boom.at("inputSchema").at("type") == "object");

  for (const char* bad : {R"({"cursor":"garbage"})", R"({"cursor":""})", R"({"cursor":5})",
                          R"({"cursor":"a2VlbC50b29sczo5OQ"})"}) {  // keel.tools:99
    INFO(bad);
    CHECK(error_code(c.request(300, "tools/list", bad)) == -32602);
  }
}

TEST_CASE("tools/call: success carries text and structuredContent", "[mcp][tools]") {
  Client c;
  c.initialize();
  auto r = c.request(1, "tools/call", R"({"name":"echo","arguments":{"text":"hi","n":2.0}})");
  const auto& res = result(r);
  CHECK(res.at("isError") == false);
  CHECK(res.at("structuredContent").at("text") == "hi");
  CHECK(res.at("structuredContent").at("n") == 2);
  CHECK(res.at("structuredContent").at("client") == "unit-client");
  CHECK(res.at("structuredContent").at("modern") == false);
  CHECK(res.at("structuredContent").at("version") == "2025-11-25");
  CHECK(res.at("structuredContent").at("session") == "sess-1");
  const auto& content = res.at("content").as_array();
  REQUIRE(content.size() == 1);
  CHECK(content[0].at("type") == "text");
  CHECK(json::parse(content[0].at("text").as_string()) == res.at("structuredContent"));
  CHECK_FALSE(res.contains("resultType"));

  // Explicit text wins over the serialized structure.
  auto w = result(c.request(2, "tools/call", R"({"name":"progress"})"));
  CHECK(w.at("content").at(0).at("text") == "done");
  CHECK(w.at("structuredContent").at("ok") == true);
}

TEST_CASE("tools/call: argument validation failures are isError results", "[mcp][tools]") {
  Client c;
  c.initialize();
  struct Case {
    const char* args;
    const char* needle;
  };
  for (const Case& k : {Case{R"({"text":5})", "/text: must be a string"},
                        Case{R"({})", "/text: is required"},
                        Case{R"({"text":"x","extra":1})", "/extra: is not allowed"},
                        Case{R"({"text":"x","mode":"c"})", "/mode: must be one of"},
                        Case{R"({"text":"x","n":0})", "/n: must be an integer ≥ 1"},
                        Case{R"({"text":"x","n":1.5})", "/n: must be an integer ≥ 1"}}) {
    INFO(k.args);
    auto r = c.request(1, "tools/call",
                       std::string(R"({"name":"echo","arguments":)") + k.args + "}");
    const auto& res = result(r);
    CHECK(res.at("isError") == true);
    const auto& err = res.at("_meta").at("dev.keel/error");
    CHECK(err.at("code") == "INVALID_ARGUMENT");
    const std::string msg(err.at("message").as_string());
    CHECK(msg.find(k.needle) != std::string::npos);
    const std::string text(res.at("content").at(0).at("text").as_string());
    CHECK(text.rfind("INVALID_ARGUMENT: ", 0) == 0);
    CHECK(text.find(k.needle) != std::string::npos);
  }
  // Missing arguments read as {} (and then fail "required").
  auto missing = result(c.request(2, "tools/call", R"({"name":"echo"})"));
  CHECK(missing.at("isError") == true);
  auto null_args = result(c.request(5, "tools/call", R"({"name":"echo","arguments":null})"));
  CHECK(null_args.at("_meta").at("dev.keel/error").at("message").as_string().find(
            "/text: is required") != json::string::npos);
  // Non-object arguments break the CallToolRequest schema: protocol error.
  CHECK(error_code(c.request(3, "tools/call", R"({"name":"echo","arguments":[1]})")) == -32602);
  CHECK(error_code(c.request(4, "tools/call", R"({"arguments":{}})")) == -32602);
}

TEST_CASE("tools/call: tool errors, unknown tools, internal failures", "[mcp][tools]") {
  Client c;
  c.initialize();
  auto r = result(c.request(1, "tools/call", R"({"name":"fail","arguments":{}})"));
  CHECK(r.at("isError") == true);
  CHECK(r.at("content").at(0).at("text") == "CONFLICT: lease held by B");
  CHECK(r.at("_meta").at("dev.keel/error").at("code") == "CONFLICT");
  CHECK(r.at("_meta").at("dev.keel/error").at("message") == "lease held by B");

  auto unknown = c.request(2, "tools/call", R"({"name":"nope","arguments":{}})");
  CHECK(error_code(unknown) == -32602);
  CHECK(unknown.at("error").at("message") == "Unknown tool: nope");
  CHECK(unknown.at("id") == 2);

  auto boom = result(c.request(3, "tools/call", R"({"name":"boom"})"));
  CHECK(boom.at("isError") == true);
  CHECK(boom.at("_meta").at("dev.keel/error").at("code") == "INTERNAL");
  const std::string text(boom.at("content").at(0).at("text").as_string());
  CHECK(text.find("secret") == std::string::npos);

  // Legacy era: a non-object structuredContent is dropped; text remains.
  auto scalar = result(c.request(4, "tools/call", R"({"name":"scalar"})"));
  CHECK_FALSE(scalar.contains("structuredContent"));
  CHECK(scalar.at("content").at(0).at("text") == "42");
}

// --- modern era -------------------------------------------------------------------

TEST_CASE("modern: server/discover", "[mcp][modern]") {
  ServerOptions opts;
  opts.instructions = "hello";
  Client c(opts);
  auto r = c.request(R"({"jsonrpc":"2.0","id":"d1","method":"server/discover","params":)" +
                     modern_params() + "}");
  CHECK(r.at("id") == "d1");
  const auto& res = result(r);
  CHECK(res.at("resultType") == "complete");
  const auto& versions = res.at("supportedVersions").as_array();
  REQUIRE(versions.size() == 5);
  CHECK(versions[0] == "2026-07-28");
  CHECK(versions[1] == "2025-11-25");
  CHECK(res.at("capabilities").at("tools").at("listChanged") == true);
  CHECK(res.at("instructions") == "hello");
  CHECK(res.at("ttlMs").is_int64());
  CHECK(res.at("ttlMs").as_int64() >= 0);
  CHECK(res.at("cacheScope") == "public");
  CHECK(res.at("_meta").at("io.modelcontextprotocol/serverInfo").at("name") == "keel");
  CHECK(res.at("_meta").at("io.modelcontextprotocol/serverInfo").at("version") == "0.1.0");

  // The same stdio process may then fall back to initialize.
  c.initialize();
  CHECK(c.conn().legacy_version() == "2025-11-25");
  // ... and still serve modern requests.
  auto again = c.request(R"({"jsonrpc":"2.0","id":"d2","method":"server/discover","params":)" +
                         modern_params() + "}");
  CHECK(result(again).at("resultType") == "complete");
}

TEST_CASE("modern: _meta validation", "[mcp][modern]") {
  Client c;
  // Unknown version → -32022 with data.
  auto v = c.request(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":)" +
                     modern_params("", "1900-01-01") + "}");
  CHECK(error_code(v) == -32022);
  CHECK(v.at("id") == 1);
  CHECK(v.at("error").at("data").at("requested") == "1900-01-01");
  CHECK(v.at("error").at("data").at("supported").at(0) == "2026-07-28");
  CHECK(v.at("error").at("data").at("supported").at(1) == "2025-11-25");
  // A legacy version in modern _meta is not served statelessly either.
  CHECK(error_code(c.request(R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":)" +
                             modern_params("", "2025-11-25") + "}")) == -32022);
  // Missing / non-object clientCapabilities → -32602.
  CHECK(error_code(c.request(
            R"({"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}})")) ==
        -32602);
  CHECK(error_code(c.request(
            R"({"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":[]}}})")) ==
        -32602);
  CHECK(error_code(c.request(
            R"({"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":7,"io.modelcontextprotocol/clientCapabilities":{}}}})")) ==
        -32602);
  // clientInfo is optional.
  auto no_info = c.request(
      R"({"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})");
  CHECK(result(no_info).at("resultType") == "complete");
  // Invalid logLevel → -32602.
  CHECK(error_code(c.request(
            R"({"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"loud"}}})")) ==
        -32602);
}

TEST_CASE("modern: removed and unknown methods are -32601", "[mcp][modern]") {
  Client c;
  for (const char* m : {"ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
                        "unknown/method"}) {
    INFO(m);
    auto r = c.request(std::string(R"({"jsonrpc":"2.0","id":"m","method":")") + m +
                       R"(","params":)" + modern_params() + "}");
    CHECK(error_code(r) == -32601);
    CHECK(r.at("id") == "m");
  }
  // initialize is classified legacy first, even with modern _meta.
  auto init = c.request(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":)" +
                        modern_params(R"("protocolVersion":"2025-11-25")") + "}");
  CHECK(result(init).at("protocolVersion") == "2025-11-25");
}

TEST_CASE("modern: tools/list and tools/call without initialize", "[mcp][modern]") {
  ServerOptions opts;
  opts.tools_page_size = 4;
  Client c(opts);
  auto list = result(c.request(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":)" +
                               modern_params() + "}"));
  CHECK(list.at("resultType") == "complete");
  CHECK(list.at("ttlMs").is_int64());
  CHECK(list.at("cacheScope") == "public");
  CHECK(list.at("tools").as_array().size() == 4);
  CHECK(list.at("_meta").at("io.modelcontextprotocol/serverInfo").at("name") == "keel");
  auto page2 = result(c.request(
      R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":)" +
      modern_params("\"cursor\":" + json::serialize(list.at("nextCursor"))) + "}"));
  CHECK(page2.at("tools").as_array().size() == 2);
  CHECK(page2.at("cacheScope") == "public");
  CHECK_FALSE(page2.contains("nextCursor"));

  auto call = result(c.request(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":)" +
                               modern_params(R"("name":"echo","arguments":{"text":"yo"})") + "}"));
  CHECK(call.at("resultType") == "complete");
  CHECK(call.at("isError") == false);
  CHECK(call.at("structuredContent").at("modern") == true);
  CHECK(call.at("structuredContent").at("version") == "2026-07-28");
  CHECK(call.at("structuredContent").at("client") == "modern-client");
  CHECK(call.at("_meta").at("io.modelcontextprotocol/serverInfo").at("version") == "0.1.0");

  // Modern era: structuredContent may be any JSON value.
  auto scalar = result(c.request(R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":)" +
                                 modern_params(R"("name":"scalar")") + "}"));
  CHECK(scalar.at("structuredContent") == 42);

  // Tool errors keep resultType too.
  auto fail = result(c.request(R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":)" +
                               modern_params(R"("name":"fail")") + "}"));
  CHECK(fail.at("isError") == true);
  CHECK(fail.at("resultType") == "complete");
  // Unknown tool: -32602.
  CHECK(error_code(c.request(R"({"jsonrpc":"2.0","id":6,"method":"tools/call","params":)" +
                             modern_params(R"("name":"nope")") + "}")) == -32602);
  CHECK_FALSE(c.conn().legacy_version().has_value());
}

// --- progress, logging, cancellation --------------------------------------------

TEST_CASE("progress: notifications in order, before the response", "[mcp][progress]") {
  Client c;
  c.initialize();
  CHECK(result(c.request(1, "logging/setLevel", R"({"level":"info"})")).empty());
  auto out = c.raw(R"({"jsonrpc":"2.0","id":"p","method":"tools/call","params":{"name":"progress","_meta":{"progressToken":"tok"}}})");
  REQUIRE(out.size() == 5);  // 3 progress, 1 log (info; debug filtered), 1 response
  std::vector<double> seen;
  for (int i = 0; i < 3; ++i) {
    CHECK(out[i].at("method") == "notifications/progress");
    CHECK(out[i].at("params").at("progressToken") == "tok");
    CHECK(out[i].at("params").at("total") == 100);
    seen.push_back(out[i].at("params").at("progress").to_number<double>());
    CHECK_FALSE(out[i].as_object().contains("id"));
  }
  CHECK(seen == std::vector<double>{0, 50, 100});
  CHECK(out[0].at("params").at("message") == "start");
  CHECK_FALSE(out[1].at("params").as_object().contains("message"));
  CHECK(out[3].at("method") == "notifications/message");
  CHECK(out[3].at("params").at("level") == "info");
  CHECK(out[3].at("params").at("logger") == "progress");
  CHECK(out[3].at("params").at("data") == "working");
  CHECK(out[4].at("id") == "p");
  CHECK(result(out[4]).at("isError") == false);

  // Integer token; no setLevel in a fresh connection: no log notifications.
  Client d;
  d.initialize();
  auto out2 = d.raw(R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"progress","_meta":{"progressToken":7}}})");
  REQUIRE(out2.size() == 4);
  CHECK(out2[0].at("params").at("progressToken") == 7);
  CHECK(out2[3].at("id") == 2);

  // Without a token: no progress at all.
  auto out3 = d.raw(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"progress"}})");
  REQUIRE(out3.size() == 1);
  CHECK(out3[0].at("id") == 3);

  // Modern: logs only with _meta logLevel.
  Client m;
  auto out4 = m.raw(R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":)" +
                    modern_params(R"("name":"progress")") + "}");
  REQUIRE(out4.size() == 1);
  auto out5 = m.raw(
      R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"progress","_meta":{"progressToken":"t","io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"debug"}}})");
  REQUIRE(out5.size() == 6);  // 3 progress, 2 logs, response
  CHECK(out5[4].at("params").at("level") == "debug");
  CHECK_FALSE(out5[4].at("params").as_object().contains("logger"));
  CHECK(result(out5[5]).at("resultType") == "complete");
}

TEST_CASE("cancellation: suppresses the response and reaches the handler", "[mcp][cancel]") {
  Client c;
  c.initialize();
  auto r = c.conn().receive(R"({"jsonrpc":"2.0","id":"w","method":"tools/call","params":{"name":"wait"}})");
  CHECK(r.kind == Connection::Received::Kind::kRequest);
  REQUIRE(r.work);
  CHECK(c.conn().in_flight() == 1);
  std::thread worker(r.work);
  while (!c.probe().wait_started) std::this_thread::sleep_for(1ms);
  const std::size_t before = c.count();
  // Other requests are served meanwhile.
  CHECK(result(c.request(1, "ping")).empty());
  // Cancelling an unknown id does nothing; then the real one.
  CHECK(c.raw(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"x"}})").empty());
  CHECK(c.raw(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"w","reason":"user"}})").empty());
  worker.join();
  CHECK(c.probe().wait_saw_cancel);
  CHECK(c.count() == before + 1);  // only the ping response
  for (const auto& m : c.sent()) CHECK(m.at("id") != "w");
  CHECK(c.conn().in_flight() == 0);
  // The id is free again.
  c.probe().release = true;
  auto again = c.request(R"({"jsonrpc":"2.0","id":"w","method":"tools/call","params":{"name":"wait"}})");
  CHECK(result(again).at("structuredContent").at("cancelled") == false);
}

TEST_CASE("cancellation: cancelled before it starts, duplicate ids, shutdown", "[mcp][cancel]") {
  Client c;
  c.initialize();
  auto r = c.conn().receive(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}})");
  REQUIRE(r.work);
  // Same id while in flight.
  auto dup = c.request(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}})");
  CHECK(error_code(dup) == -32600);
  CHECK(c.conn().cancel(jsonrpc::RequestId(std::int64_t{9})));
  const std::size_t before = c.count();
  r.work();
  CHECK(c.count() == before);
  CHECK_FALSE(c.conn().cancel(jsonrpc::RequestId(std::int64_t{9})));

  // initialize is never in flight, so never cancelled.
  Client d;
  auto init = d.conn().receive(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}})");
  CHECK_FALSE(init.work);
  CHECK(d.count() == 1);

  // Shutdown: waits end, and the response is still sent.
  auto w = c.conn().receive(R"({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"wait"}})");
  REQUIRE(w.work);
  std::thread t(w.work);
  while (!c.probe().wait_started) std::this_thread::sleep_for(1ms);
  c.conn().shutdown();
  t.join();
  CHECK(c.probe().wait_saw_cancel);
  auto last = c.sent().back();
  CHECK(last.at("id") == 10);
  CHECK(result(last).at("structuredContent").at("cancelled") == true);
}

TEST_CASE("receive: a per-message sink gets that message's output", "[mcp][sink]") {
  Client c;
  std::vector<json::value> mine;
  auto r = c.conn().receive(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"progress","_meta":{"progressToken":1,"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})",
      [&mine](const json::value& v) { mine.push_back(v); });
  CHECK(r.modern);
  REQUIRE(r.work);
  r.work();
  CHECK(mine.size() == 4);
  CHECK(c.count() == 0);
  auto n = c.conn().receive(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  CHECK(n.kind == Connection::Received::Kind::kNotification);
  auto bad = c.conn().receive("]");
  CHECK(bad.kind == Connection::Received::Kind::kInvalid);
}

TEST_CASE("concurrency: many threads, one connection", "[mcp][concurrency]") {
  Client c;
  c.initialize();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 50; ++i) {
        const int id = 1000 + t * 100 + i;
        c.conn().handle(json::serialize(json::object{
            {"jsonrpc", "2.0"},
            {"id", id},
            {"method", "tools/call"},
            {"params", {{"name", "echo"}, {"arguments", {{"text", "x"}}}, {"_meta", {{"progressToken", id}}}}}}));
        c.conn().handle(R"({"jsonrpc":"2.0","id":"p","method":"ping"})");
      }
    });
  }
  for (auto& t : threads) t.join();
  std::size_t results = 0;
  for (const auto& m : c.sent()) {
    if (m.as_object().contains("result")) ++results;
  }
  CHECK(results == 1 + 8 * 50 * 2);
}

TEST_CASE("fuzz: random and truncated input never crashes", "[mcp][fuzz]") {
  Client c;
  c.initialize();
  const std::vector<std::string> seeds = {
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi","n":3}}})",
      R"({"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"cursor":"a2VlbC50b29sczoy"}})",
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})",
      R"({"jsonrpc":"2.0","id":2,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}})",
      R"({"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}})",
  };
  std::mt19937 rng(12345);
  for (int i = 0; i < 3000; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    switch (rng() % 4) {
      case 0:
        s.resize(rng() % (s.size() + 1));
        break;
      case 1:
        for (int k = 0; k < 4; ++k) s[rng() % s.size()] = static_cast<char>(rng() % 256);
        break;
      case 2: {
        s.clear();
        const std::size_t n = rng() % 64;
        for (std::size_t k = 0; k < n; ++k) s.push_back(static_cast<char>(rng() % 256));
        break;
      }
      default:
        s.insert(rng() % s.size(), std::string(rng() % 3 + 1, "{[\"}]:,\\"[rng() % 8]));
        break;
    }
    std::vector<json::value> out;
    REQUIRE_NOTHROW(out = c.raw(s));
    // Never more than one response per message.
    std::size_t responses = 0;
    for (const auto& m : out) {
      if (m.as_object().contains("id")) ++responses;
    }
    REQUIRE(responses <= 1);
  }
  // Still healthy.
  CHECK(result(c.request(42, "ping")).empty());
}

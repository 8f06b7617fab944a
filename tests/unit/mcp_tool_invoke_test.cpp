// Unit tests: mcp::invoke_tool and mcp::call_result — lookup, integer
// normalization, input validation, what a handler throws, and the
// CallToolResult tools/call answers for each outcome.
#include <catch2/catch.hpp>

#include <stdexcept>

#include <boost/json.hpp>

#include "mcp/tool_invoke.h"

namespace json = boost::json;
using namespace keel::mcp;

namespace {

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

ToolRegistry registry() {
  ToolRegistry reg;
  reg.add(Tool{
      .name = "echo",
      .input_schema = obj(R"({"type":"object",
          "properties":{"text":{"type":"string","minLength":1},"n":{"type":"integer","minimum":1}},
          "required":["text"],"additionalProperties":false})"),
      .output_schema = obj(R"({"type":"object","properties":{"text":{"type":"string"}}})"),
      .handler =
          [](const json::object& args, const CallContext&) {
            json::object out{{"text", args.at("text")}};
            if (const auto* n = args.if_contains("n")) out["n_is_int"] = n->is_int64();
            return ToolResult{json::value(std::move(out)), ""};
          },
  });
  reg.add(Tool{.name = "texty",
               .handler = [](const json::object&, const CallContext&) {
                 return ToolResult{json::array{1, 2}, "one, two"};
               }});
  reg.add(Tool{.name = "raw",
               .handler = [](const json::object&, const CallContext&) {
                 ToolResult r;
                 r.raw = obj(R"({"resultType":"input_required","requestState":"s"})");
                 return r;
               }});
  reg.add(Tool{.name = "refuse",
               .handler = [](const json::object&, const CallContext&) -> ToolResult {
                 throw ToolError("CONFLICT", "held by B");
               }});
  reg.add(Tool{.name = "boom",
               .handler = [](const json::object&, const CallContext&) -> ToolResult {
                 throw std::runtime_error("secret detail");
               }});
  reg.add(Tool{.name = "weird",
               .handler = [](const json::object&, const CallContext&) -> ToolResult { throw 42; }});
  reg.add(Tool{.name = "protocol",
               .handler = [](const json::object&, const CallContext&) -> ToolResult {
                 throw ProtocolError(-32602, "Invalid params: requestState is malformed");
               }});
  return reg;
}

std::string text_of(const json::object& result) {
  return std::string(result.at("content").at(0).at("text").as_string());
}

}  // namespace

TEST_CASE("invoke_tool: a success, integers normalized", "[mcp][invoke]") {
  const ToolRegistry reg = registry();
  CallContext ctx;
  ToolOutcome o = invoke_tool(reg, "echo", obj(R"({"text":"hi","n":2.0})"), ctx);
  REQUIRE(o.ok());
  CHECK(o.tool == reg.find("echo"));
  CHECK(o.result.structured == json::parse(R"({"text":"hi","n_is_int":true})"));

  json::object r = call_result(std::move(o), ctx);
  CHECK(r.at("isError") == false);
  CHECK(r.at("structuredContent") == json::parse(R"({"text":"hi","n_is_int":true})"));
  CHECK(text_of(r) == R"({"text":"hi","n_is_int":true})");  // no text: the serialized value
}

TEST_CASE("invoke_tool: unknown tools and invalid arguments", "[mcp][invoke]") {
  const ToolRegistry reg = registry();
  CallContext ctx;
  ToolOutcome unknown = invoke_tool(reg, "nope", {}, ctx);
  CHECK(unknown.status == ToolOutcome::Status::kUnknownTool);
  CHECK(unknown.tool == nullptr);
  CHECK(unknown.code == "UNKNOWN_TOOL");
  CHECK(unknown.message == "no tool named nope");

  ToolOutcome bad = invoke_tool(reg, "echo", obj(R"({"text":"","x":1})"), ctx);
  CHECK(bad.status == ToolOutcome::Status::kInvalidArguments);
  CHECK(bad.code == "INVALID_ARGUMENT");
  REQUIRE(bad.schema_errors.size() == 2);
  CHECK(bad.message == "invalid arguments for echo: " + join_errors(bad.schema_errors, "; "));
  CHECK_FALSE(bad.error);

  json::object r = call_result(std::move(bad), ctx);
  CHECK(r.at("isError") == true);
  CHECK_FALSE(r.contains("structuredContent"));
  CHECK(text_of(r).rfind("INVALID_ARGUMENT: invalid arguments for echo: /", 0) == 0);
  CHECK(r.at("_meta").at("dev.keel/error").at("code") == "INVALID_ARGUMENT");
}

TEST_CASE("invoke_tool: what a handler throws", "[mcp][invoke]") {
  const ToolRegistry reg = registry();
  CallContext ctx;
  ToolOutcome refused = invoke_tool(reg, "refuse", {}, ctx);
  CHECK(refused.status == ToolOutcome::Status::kToolError);
  CHECK(refused.code == "CONFLICT");
  CHECK(refused.message == "held by B");
  REQUIRE(refused.error);
  CHECK_THROWS_AS(std::rethrow_exception(refused.error), ToolError);
  json::object r = call_result(std::move(refused), ctx);
  CHECK(text_of(r) == "CONFLICT: held by B");
  CHECK(r.at("_meta").at("dev.keel/error") == json::parse(R"({"code":"CONFLICT","message":"held by B"})"));

  for (const char* name : {"boom", "weird"}) {
    ToolOutcome o = invoke_tool(reg, name, {}, ctx);
    CHECK(o.status == ToolOutcome::Status::kInternal);
    CHECK(o.code == "INTERNAL");
    CHECK(o.message == "internal error in " + std::string(name));  // no detail on the wire
    CHECK(o.error);
    CHECK(text_of(call_result(std::move(o), ctx)) == "INTERNAL: internal error in " + std::string(name));
  }
  CHECK(invoke_tool(reg, "boom", {}, ctx).detail == "secret detail");

  CHECK_THROWS_AS(invoke_tool(reg, "protocol", {}, ctx), ProtocolError);
}

TEST_CASE("call_result: text, raw results, the legacy era's objects only", "[mcp][invoke]") {
  const ToolRegistry reg = registry();
  CallContext legacy;
  CallContext modern;
  modern.modern = true;

  json::object r = call_result(invoke_tool(reg, "texty", {}, legacy), legacy);
  CHECK(text_of(r) == "one, two");
  CHECK_FALSE(r.contains("structuredContent"));  // an array: dropped in the legacy era
  r = call_result(invoke_tool(reg, "texty", {}, modern), modern);
  CHECK(r.at("structuredContent") == json::array{1, 2});

  r = call_result(invoke_tool(reg, "raw", {}, modern), modern);
  CHECK(r == obj(R"({"resultType":"input_required","requestState":"s"})"));
}

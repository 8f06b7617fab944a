// Unit tests: mcp/messages (the named params/results of the protocol
// messages): decoders keep the -32602 texts, encoders keep the wire's key order.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "mcp/messages.h"

using namespace keel::mcp;

namespace {

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

template <class T>
std::string error_of(const Decoded<T>& d) {
  REQUIRE(std::holds_alternative<Error>(d));
  CHECK(std::get<Error>(d).code == static_cast<int>(ErrorCode::kInvalidParams));
  return std::get<Error>(d).message;
}

}  // namespace

TEST_CASE("messages: initialize params decode, bad shapes keep their texts", "[mcp][messages]") {
  auto ok = decode_initialize_params(
      obj(R"({"protocolVersion":"2025-11-25","clientInfo":{"name":"c","version":7}})"));
  REQUIRE(std::holds_alternative<InitializeParams>(ok));
  const auto& p = std::get<InitializeParams>(ok);
  CHECK(p.protocol_version == "2025-11-25");
  CHECK(p.client_name == "c");
  CHECK(p.client_version.empty());
  CHECK(error_of(decode_initialize_params(obj("{}"))) ==
        "Invalid params: \"protocolVersion\" must be a string");
  CHECK(error_of(decode_initialize_params(obj(R"({"protocolVersion":"x","capabilities":1})"))) ==
        "Invalid params: \"capabilities\" must be an object");
  CHECK(error_of(decode_initialize_params(obj(R"({"protocolVersion":"x","clientInfo":[]})"))) ==
        "Invalid params: \"clientInfo\" must be an object");
}

TEST_CASE("messages: results encode in the wire's key order", "[mcp][messages]") {
  CHECK(json::serialize(to_json(InitializeResult{"v", {}, {{"name", "k"}}, ""})) ==
        R"({"protocolVersion":"v","capabilities":{},"serverInfo":{"name":"k"}})");
  CHECK(json::serialize(to_json(DiscoverResult{{"a"}, {}, "hi"})) ==
        R"({"supportedVersions":["a"],"capabilities":{},"instructions":"hi"})");
  CHECK(json::serialize(to_json(ListToolsResult{{}, "c"})) == R"({"tools":[],"nextCursor":"c"})");
  CHECK(json::serialize(to_json(ListToolsResult{})) == R"({"tools":[]})");
  CHECK(json::serialize(to_json(CompleteResult{{"x"}, 101, true})) ==
        R"({"completion":{"values":["x"],"total":101,"hasMore":true}})");
}

TEST_CASE("messages: list cursor, tools/call, read, prompts/get, setLevel", "[mcp][messages]") {
  CHECK_FALSE(std::get<ListToolsParams>(decode_list_tools_params(obj(R"({"cursor":null})"))).cursor);
  CHECK(error_of(decode_list_tools_params(obj(R"({"cursor":3})"))) ==
        "Invalid params: invalid cursor");

  auto call = decode_call_tool_params(
      obj(R"({"name":"t","arguments":5,"requestState":1,"_meta":{"progressToken":"p"}})"));
  REQUIRE(std::holds_alternative<CallToolParams>(call));
  const auto& c = std::get<CallToolParams>(call);
  CHECK(c.arguments == json::value(5));  // checked later, after the tool lookup
  CHECK(c.request_state.empty());
  CHECK(c.progress_token == json::value("p"));
  CHECK(error_of(decode_call_tool_params(obj(R"({"name":1})"))) ==
        "Invalid params: \"name\" must be a string");

  CHECK(error_of(decode_read_resource_params(obj("{}"))) ==
        "Invalid params: \"uri\" must be a string");
  const GetPromptParams gp = decode_get_prompt_params(obj(R"({"name":2,"arguments":[]})"));
  CHECK_FALSE(gp.name);
  CHECK(gp.arguments.empty());
  CHECK(error_of(decode_complete_params(obj(R"({"ref":{}})"))) ==
        "Invalid params: \"ref\" and \"argument\" are required");

  CHECK(std::get<SetLevelParams>(decode_set_level_params(obj(R"({"level":"error"})"))).level ==
        LogLevel::error);
  CHECK(error_of(decode_set_level_params(obj(R"({"level":"loud"})"))) ==
        "Invalid params: \"level\" must be one of debug, info, notice, warning, error, "
        "critical, alert, emergency");
}

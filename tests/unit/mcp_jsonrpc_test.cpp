// Unit tests: mcp/jsonrpc (message codec), protocol_version, pagination.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "mcp/jsonrpc.h"
#include "mcp/pagination.h"
#include "mcp/protocol_version.h"

namespace json = boost::json;
using namespace keel::mcp;
using namespace keel::mcp::jsonrpc;

namespace {

template <class T>
const T& as(const Incoming& in) {
  REQUIRE(std::holds_alternative<T>(in));
  return std::get<T>(in);
}

}  // namespace

TEST_CASE("jsonrpc: requests keep integer and string ids exactly", "[mcp][jsonrpc]") {
  auto in = parse_message(R"({"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"cursor":"x"}})");
  const auto& req = as<Request>(in);
  CHECK(req.id == RequestId(std::int64_t{7}));
  CHECK_FALSE(req.id.is_string());
  CHECK(req.method == "tools/list");
  CHECK(req.params.at("cursor") == "x");
  CHECK(json::serialize(req.id.to_json()) == "7");

  auto in2 = parse_message(R"({"jsonrpc":"2.0","id":"7","method":"ping"})");
  const auto& req2 = as<Request>(in2);
  CHECK(req2.id.is_string());
  CHECK(json::serialize(req2.id.to_json()) == "\"7\"");
  CHECK(req2.id != RequestId(std::int64_t{7}));
  CHECK(req2.params.empty());

  auto big = parse_message(R"({"jsonrpc":"2.0","id":9223372036854775807,"method":"ping"})");
  CHECK(json::serialize(as<Request>(big).id.to_json()) == "9223372036854775807");
  auto neg = parse_message(R"({"jsonrpc":"2.0","id":-3,"method":"ping"})");
  CHECK(json::serialize(as<Request>(neg).id.to_json()) == "-3");
}

TEST_CASE("jsonrpc: notifications and responses", "[mcp][jsonrpc]") {
  auto n = parse_message(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  CHECK(as<Notification>(n).method == "notifications/initialized");

  auto r = parse_message(R"({"jsonrpc":"2.0","id":"s1","result":{}})");
  CHECK(as<Response>(r).id == RequestId("s1"));

  auto e = parse_message(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}})");
  CHECK_FALSE(as<ErrorResponse>(e).id.has_value());
  CHECK(as<ErrorResponse>(e).error.code == -32700);
}

TEST_CASE("jsonrpc: malformed input maps to the right error", "[mcp][jsonrpc]") {
  struct Case {
    std::string raw;
    int code;
    bool reply;
    std::optional<RequestId> id;
  };
  const std::vector<Case> cases = {
      {"{", -32700, true, std::nullopt},
      {"", -32700, true, std::nullopt},
      {"nul", -32700, true, std::nullopt},
      {R"({"jsonrpc":"2.0","id":1,"method":"x"} trailing)", -32700, true, std::nullopt},
      {std::string("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a") + std::string(1, '\0') + "b\"}",
       -32700, true, std::nullopt},
      {std::string(1, '\0'), -32700, true, std::nullopt},
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}", -32700, true, std::nullopt},
      {R"({"jsonrpc":"2.0","id":1,"method":"x","params":{"n":1e400}})", -32700, true, std::nullopt},
      {R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])", -32600, true, std::nullopt},
      {R"("hello")", -32600, true, std::nullopt},
      {R"(42)", -32600, true, std::nullopt},
      {R"({"jsonrpc":"1.0","id":5,"method":"ping"})", -32600, true, RequestId(std::int64_t{5})},
      {R"({"id":5,"method":"ping"})", -32600, true, RequestId(std::int64_t{5})},
      {R"({"jsonrpc":"2.0","id":true,"method":"ping"})", -32600, true, std::nullopt},
      {R"({"jsonrpc":"2.0","id":null,"method":"ping"})", -32600, true, std::nullopt},
      {R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})", -32600, true, std::nullopt},
      {R"({"jsonrpc":"2.0","id":{},"method":"ping"})", -32600, true, std::nullopt},
      {R"({"jsonrpc":"2.0","id":3,"method":7})", -32600, true, RequestId(std::int64_t{3})},
      {R"({"jsonrpc":"2.0","id":3,"method":"x","params":[1]})", -32600, true,
       RequestId(std::int64_t{3})},
      {R"({"jsonrpc":"2.0","id":3})", -32600, true, RequestId(std::int64_t{3})},
      {R"({"jsonrpc":"2.0"})", -32600, true, std::nullopt},
      // Notification-shaped: never answered.
      {R"({"jsonrpc":"1.0","method":"notifications/x"})", -32600, false, std::nullopt},
      {R"({"jsonrpc":"2.0","method":"x","params":"p"})", -32600, false, std::nullopt},
      // Response-shaped: never answered.
      {R"({"jsonrpc":"2.0","id":true,"result":{}})", -32600, false, std::nullopt},
  };
  for (const auto& c : cases) {
    INFO("input: " << c.raw);
    auto in = parse_message(c.raw);
    REQUIRE(std::holds_alternative<MalformedMessage>(in));
    const auto& m = std::get<MalformedMessage>(in);
    CHECK(m.error.code == c.code);
    CHECK(m.reply == c.reply);
    CHECK(m.id == c.id);
  }
}

TEST_CASE("jsonrpc: nesting and size limits", "[mcp][jsonrpc]") {
  std::string deep = R"({"jsonrpc":"2.0","id":1,"method":"x","params":{"a":)";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "}}";
  auto in = parse_message(deep);
  REQUIRE(std::holds_alternative<MalformedMessage>(in));
  CHECK(std::get<MalformedMessage>(in).error.code == -32700);

  ParseLimits small;
  small.max_message_bytes = 20;
  auto big = parse_message(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", small);
  REQUIRE(std::holds_alternative<MalformedMessage>(big));
  CHECK(std::get<MalformedMessage>(big).error.code == -32600);
}

TEST_CASE("jsonrpc: serialization", "[mcp][jsonrpc]") {
  auto err = to_json(make_error(std::nullopt, ErrorCode::kParseError, "bad"));
  CHECK(err.at("id").is_null());
  CHECK(err.at("error").at("code") == -32700);
  CHECK(err.at("jsonrpc") == "2.0");
  auto withdata = to_json(make_error(RequestId("a"), ErrorCode::kUnsupportedProtocolVersion, "v",
                                     json::value(json::object{{"requested", "x"}})));
  CHECK(withdata.at("id") == "a");
  CHECK(withdata.at("error").at("data").at("requested") == "x");
  auto note = to_json(Notification{"notifications/progress", {{"progress", 1}}});
  CHECK_FALSE(note.as_object().contains("id"));
  auto resp = to_json(Response{RequestId(std::int64_t{4}), json::object{}});
  CHECK(resp.at("id") == 4);
  CHECK(resp.at("result").is_object());
}

TEST_CASE("protocol versions: negotiation and lists", "[mcp][version]") {
  CHECK(negotiate_legacy_version("2025-11-25") == "2025-11-25");
  CHECK(negotiate_legacy_version("2025-06-18") == "2025-06-18");
  CHECK(negotiate_legacy_version("2024-11-05") == "2024-11-05");
  CHECK(negotiate_legacy_version("1999-01-01") == "2025-11-25");
  CHECK(negotiate_legacy_version("2026-07-28") == "2025-11-25");
  CHECK(is_modern_version("2026-07-28"));
  CHECK_FALSE(is_modern_version("2025-11-25"));
  auto all = supported_versions_json();
  REQUIRE(all.size() == 5);
  CHECK(all[0] == "2026-07-28");
  CHECK(all[1] == "2025-11-25");
}

TEST_CASE("pagination: cursors round-trip and reject tampering", "[mcp][pagination]") {
  for (std::size_t off : {0u, 1u, 2u, 49u, 100u, 123456u}) {
    auto c = encode_cursor("tools", off);
    CHECK(decode_cursor("tools", c) == off);
    CHECK_FALSE(decode_cursor("prompts", c).has_value());
  }
  CHECK_FALSE(decode_cursor("tools", "").has_value());
  CHECK_FALSE(decode_cursor("tools", "!!!").has_value());
  CHECK_FALSE(decode_cursor("tools", "2").has_value());
  CHECK_FALSE(decode_cursor("tools", "a2VlbC50b29sczp4").has_value());  // keel.tools:x
  auto c = encode_cursor("tools", 2);
  CHECK_FALSE(decode_cursor("tools", c + "A").has_value());
}

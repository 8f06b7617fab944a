// Unit tests: mcp/schema (the JSON Schema subset validator).
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "mcp/schema.h"

namespace json = boost::json;
using keel::mcp::join_errors;
using keel::mcp::normalize_integers;
using keel::mcp::SchemaError;
using keel::mcp::validate_schema;

namespace {

std::vector<SchemaError> check(std::string_view schema, std::string_view instance) {
  return validate_schema(json::parse(schema), json::parse(instance));
}

std::string errs(std::string_view schema, std::string_view instance) {
  return join_errors(check(schema, instance), " | ");
}

constexpr std::string_view kLease = R"({
  "type":"object",
  "properties":{
    "name":{"type":"string","minLength":1,"maxLength":8},
    "ttl_ms":{"type":"integer","minimum":1},
    "mode":{"type":"string","enum":["exclusive","shared"]},
    "wait_ms":{"type":"integer","minimum":0,"maximum":1000},
    "fence":{"type":"object","properties":{"name":{"type":"string"},"token":{"type":"integer"}},
             "required":["name","token"],"additionalProperties":false}
  },
  "required":["name","ttl_ms"],
  "additionalProperties":false
})";

}  // namespace

TEST_CASE("schema: valid instances pass", "[mcp][schema]") {
  CHECK(check(kLease, R"({"name":"a","ttl_ms":5})").empty());
  CHECK(check(kLease, R"({"name":"a","ttl_ms":5,"mode":"shared","wait_ms":1000})").empty());
  CHECK(check(kLease, R"({"name":"a","ttl_ms":5.0})").empty());  // 5.0 is an integer
  CHECK(check(kLease, R"({"name":"a","ttl_ms":5,"fence":{"name":"x","token":3}})").empty());
  CHECK(check("{}", R"([1,"x",null])").empty());
  CHECK(check("true", R"(1)").empty());
}

TEST_CASE("schema: errors name the JSON path", "[mcp][schema]") {
  CHECK(errs(kLease, R"({"name":"a","ttl_ms":0})") == "/ttl_ms: must be an integer ≥ 1");
  CHECK(errs(kLease, R"({"name":"a","ttl_ms":"5"})") == "/ttl_ms: must be an integer ≥ 1");
  CHECK(errs(kLease, R"({"name":"a","ttl_ms":1.5})") == "/ttl_ms: must be an integer ≥ 1");
  CHECK(errs(kLease, R"({"name":"a"})") == "/ttl_ms: is required");
  CHECK(errs(kLease, R"({"name":"a","ttl_ms":1,"bogus":1})") ==
        "/bogus: is not allowed (unknown property)");
  CHECK(errs(kLease, R"({"name":"a","ttl_ms":1,"mode":"both"})") ==
        "/mode: must be one of: \"exclusive\", \"shared\"");
  CHECK(errs(kLease, R"({"name":"a","ttl_ms":1,"wait_ms":1001})") ==
        "/wait_ms: must be an integer ≥ 0 and ≤ 1000");
  CHECK(errs(kLease, R"({"name":"","ttl_ms":1})") == "/name: must be at least 1 characters long");
  CHECK(errs(kLease, R"({"name":"ééééééééé","ttl_ms":1})") ==
        "/name: must be at most 8 characters long");
  CHECK(check(kLease, R"({"name":"éééééééé","ttl_ms":1})").empty());  // 8 code points
  CHECK(errs(kLease, R"({"name":"a","ttl_ms":1,"fence":{"name":"x"}})") == "/fence/token: is required");
  CHECK(errs(kLease, R"([])") == "/: must be an object");
  // Several problems are all reported.
  CHECK(check(kLease, R"({"ttl_ms":-1,"x":1,"mode":3})").size() == 4);
}

TEST_CASE("schema: type arrays, null, number, boolean", "[mcp][schema]") {
  constexpr std::string_view s = R"({"type":["string","null"]})";
  CHECK(check(s, R"("x")").empty());
  CHECK(check(s, "null").empty());
  CHECK(errs(s, "1") == "/: must be a string or null");
  CHECK(check(R"({"type":"number","exclusiveMinimum":0})", "0.5").empty());
  CHECK(errs(R"({"type":"number","exclusiveMinimum":0})", "0") == "/: must be a number > 0");
  CHECK(errs(R"({"type":"number","exclusiveMaximum":1})", "1") == "/: must be a number < 1");
  CHECK(errs(R"({"type":"boolean"})", "0") == "/: must be a boolean");
  CHECK(check(R"({"type":"integer"})", "18446744073709551615").empty());
}

TEST_CASE("schema: const, arrays, additionalProperties schema", "[mcp][schema]") {
  CHECK(errs(R"({"const":"a"})", R"("b")") == "/: must be \"a\"");
  constexpr std::string_view arr =
      R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3,"uniqueItems":true})";
  CHECK(check(arr, "[1,2,3]").empty());
  CHECK(errs(arr, "[]") == "/: must have at least 1 items");
  CHECK(errs(arr, "[1,2,3,4]") == "/: must have at most 3 items");
  CHECK(errs(arr, R"([1,"x"])") == "/1: must be an integer");
  CHECK(errs(arr, "[1,1]").find("duplicate") != std::string::npos);
  constexpr std::string_view map = R"({"type":"object","additionalProperties":{"type":"string"}})";
  CHECK(check(map, R"({"a":"x","b":"y"})").empty());
  CHECK(errs(map, R"({"a":"x","b/c":1})") == "/b~1c: must be a string");
}

TEST_CASE("schema: anyOf / oneOf / allOf / not / $ref", "[mcp][schema]") {
  constexpr std::string_view any = R"({"anyOf":[{"type":"string"},{"type":"integer","minimum":0}]})";
  CHECK(check(any, R"("x")").empty());
  CHECK(check(any, "3").empty());
  CHECK(errs(any, "-1").find("must match at least one") != std::string::npos);

  constexpr std::string_view one = R"({"oneOf":[{"type":"integer"},{"type":"number"}]})";
  CHECK(check(one, "1.5").empty());
  CHECK(errs(one, "1").find("matches 2") != std::string::npos);
  CHECK(errs(one, R"("x")").find("exactly one") != std::string::npos);

  constexpr std::string_view titled =
      R"({"oneOf":[{"const":"a","title":"A"},{"const":"b","title":"B"}]})";
  CHECK(errs(titled, R"("c")") == "/: must be one of: \"a\", \"b\"");

  CHECK(errs(R"({"allOf":[{"type":"integer"},{"minimum":5}]})", "4") == "/: must be a number ≥ 5");
  CHECK(errs(R"({"not":{"type":"string"}})", R"("x")") == "/: must not match the excluded schema");

  constexpr std::string_view ref = R"({
    "$schema":"https://json-schema.org/draft/2020-12/schema",
    "$defs":{"address":{"type":"object","properties":{"zip":{"type":"string"}},"required":["zip"]}},
    "type":"object","properties":{"address":{"$ref":"#/$defs/address"}},"additionalProperties":false})";
  CHECK(check(ref, R"({"address":{"zip":"123"}})").empty());
  CHECK(errs(ref, R"({"address":{}})") == "/address/zip: is required");
  CHECK(errs(R"({"$ref":"#/nowhere"})", "1").find("unresolvable") != std::string::npos);
  // A self-referencing schema terminates.
  CHECK_FALSE(check(R"({"$ref":"#"})", "1").empty());
  // Recursive but well-founded: a tree.
  constexpr std::string_view tree =
      R"({"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#"}}}})";
  CHECK(check(tree, R"({"kids":[{"kids":[{}]}]})").empty());
  CHECK(errs(tree, R"({"kids":[{"kids":[1]}]})") == "/kids/0/kids/0: must be an object");
}

TEST_CASE("schema: if/then/else and ignored keywords", "[mcp][schema]") {
  constexpr std::string_view s = R"({"if":{"properties":{"k":{"const":"a"}}},
    "then":{"required":["x"]},"else":{"required":["y"]},"pattern":"^z","format":"email"})";
  CHECK(errs(s, R"({"k":"a"})") == "/x: is required");
  CHECK(errs(s, R"({"k":"b"})") == "/y: is required");
}

TEST_CASE("schema: malformed schemas never throw", "[mcp][schema]") {
  const char* schemas[] = {R"({"type":5})", R"({"properties":[]})", R"({"required":"x"})",
                           R"({"minimum":"x"})", R"({"items":7})", R"({"anyOf":{}})",
                           R"({"enum":3})", R"({"minLength":-1})", "false", "[]", "null"};
  for (const char* s : schemas) {
    INFO(s);
    CHECK_NOTHROW(check(s, R"({"a":[1,"x",{"b":null}]})"));
  }
  CHECK(errs("false", "1") == "/: is not allowed");
}

TEST_CASE("schema: error count is capped", "[mcp][schema]") {
  std::string inst = "{";
  for (int i = 0; i < 100; ++i) inst += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":1";
  inst += "}";
  auto e = check(R"({"additionalProperties":false})", inst);
  CHECK(e.size() == 20);
}

TEST_CASE("schema: normalize_integers", "[mcp][schema]") {
  json::value v = json::parse(R"({"a":3.0,"b":[1.5,-0.0,2e3],"c":1e300})");
  normalize_integers(v);
  CHECK(v.at("a").is_int64());
  CHECK(v.at("a").as_int64() == 3);
  CHECK(v.at("b").at(0).is_double());
  CHECK(v.at("b").at(1).is_int64());
  CHECK(v.at("b").at(2).as_int64() == 2000);
  CHECK(v.at("c").is_double());
}

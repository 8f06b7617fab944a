// tools/tool_schema.h: a tool's JSON declared once as a described struct —
// the schema it gives (keys in a stable order), decoding (optional, defaults,
// null, the INVALID_ARGUMENT paths) and encoding; and the limits the tools
// advertise are the store's.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "state/escalation.h"
#include "state/lease_name.h"
#include "tools/tool_support.h"
#include "tools/tools.h"

namespace json = boost::json;
namespace wire = keel::tools::wire;

namespace {

struct Inner {
  std::string name{};
  std::int64_t token = 0;
  static constexpr wire::Doc docs[] = {{.name = "token", .minimum = 1}};
};
BOOST_DESCRIBE_STRUCT(Inner, (), (name, token))

constexpr std::string_view kColors[] = {"red", "blue"};

struct Sample {
  std::string text{};
  std::optional<std::int64_t> n{};
  keel::state::LeaseMode mode = keel::state::LeaseMode::kShared;
  std::string color = "red";
  json::value any{};
  std::optional<Inner> inner{};
  std::vector<std::string> tags{};
  bool flag = false;
  std::string namespace_ = "own";
  static constexpr wire::Doc docs[] = {
      {.name = "text", .description = "words", .min_length = 1, .max_length = 8},
      {.name = "n", .minimum = 0, .maximum = 9},
      {.name = "mode", .show_default = true},
      {.name = "color", .one_of = kColors, .show_default = true},
      {.name = "inner", .description = "nested"},
      {.name = "tags", .max_items = 3},
      {.name = "flag", .show_default = true},
      {.name = "namespace_", .show_default = true}};
};
BOOST_DESCRIBE_STRUCT(Sample, (), (text, n, mode, color, any, inner, tags, flag, namespace_))

struct Typo {
  std::string a{};
  static constexpr wire::Doc docs[] = {{.name = "b"}};
};
BOOST_DESCRIBE_STRUCT(Typo, (), (a))

std::string failure(const json::object& args) {
  try {
    wire::decode<Sample>(args);
    return "";
  } catch (const keel::tools::Failure& f) {
    CHECK(f.code() == "INVALID_ARGUMENT");
    CHECK(f.store_code() == keel::state::ErrorCode::kInvalidArgument);
    return f.what();
  }
}

}  // namespace

TEST_CASE("wire: the schema of a described struct, keys in the literals' order", "[tools][wire]") {
  CHECK(json::serialize(wire::input_schema<Sample>()) ==
        R"({"type":"object","properties":{)"
        R"("text":{"type":"string","minLength":1,"maxLength":8,"description":"words"},)"
        R"("n":{"type":"integer","minimum":0,"maximum":9},)"
        R"("mode":{"type":"string","enum":["exclusive","shared"],"default":"shared"},)"
        R"("color":{"type":"string","enum":["red","blue"],"default":"red"},)"
        R"("any":{},)"
        R"("inner":{"type":"object","description":"nested","properties":{"name":{"type":"string"},)"
        R"("token":{"type":"integer","minimum":1}},"required":["name","token"],"additionalProperties":false},)"
        R"("tags":{"type":"array","items":{"type":"string"},"maxItems":3},)"
        R"("flag":{"type":"boolean","default":false},)"
        R"("namespace":{"type":"string","default":"own"}},)"
        R"("required":["text","any","tags"],"additionalProperties":false})");
  // An output schema promises what is always there and allows more.
  CHECK_FALSE(wire::output_schema<Sample>().contains("additionalProperties"));
  CHECK_THROWS_AS(wire::input_schema<Typo>(), std::logic_error);
}

TEST_CASE("wire: decoding — optional, defaults, null, and where it is wrong", "[tools][wire]") {
  Sample s = wire::decode<Sample>(json::parse(R"({"text":"hi","any":null,"tags":["x"],
      "inner":{"name":"n","token":2},"namespace":"shared","n":null})").as_object());
  CHECK(s.text == "hi");
  CHECK_FALSE(s.n);  // null reads as absent
  CHECK(s.mode == keel::state::LeaseMode::kShared);
  CHECK(s.color == "red");
  CHECK(s.any.is_null());  // any JSON, null included, is a value
  REQUIRE(s.inner);
  CHECK(s.inner->token == 2);
  CHECK(s.tags == std::vector<std::string>{"x"});
  CHECK(s.namespace_ == "shared");

  CHECK(failure(json::parse(R"({"any":1,"tags":[]})").as_object()) == "/text: is required");
  CHECK(failure(json::parse(R"({"text":1,"any":1,"tags":[]})").as_object()) == "/text: must be a string");
  CHECK(failure(json::parse(R"({"text":"t","any":1,"tags":[],"mode":"x"})").as_object()) ==
        "/mode: must be one of: exclusive, shared");
  CHECK(failure(json::parse(R"({"text":"t","any":1,"tags":[2]})").as_object()) == "/tags/0: must be a string");
  CHECK(failure(json::parse(R"({"text":"t","any":1,"tags":[],"inner":{"name":"n"}})").as_object()) ==
        "/inner/token: is required");
}

TEST_CASE("wire: encoding follows the declaration and leaves out what is absent", "[tools][wire]") {
  Sample s;
  s.text = "t";
  s.any = json::array{1};
  CHECK(json::serialize(wire::encode(s)) ==
        R"({"text":"t","mode":"shared","color":"red","any":[1],"tags":[],"flag":false,"namespace":"own"})");
  s.n = 3;
  s.inner = Inner{"n", 4};
  const json::object o = wire::encode_object(s);
  CHECK(o.at("n") == 3);
  CHECK(o.at("inner") == json::parse(R"({"name":"n","token":4})"));
  CHECK(wire::decode<Sample>(o).inner->token == 4);  // round trip
}

TEST_CASE("the limits the tools advertise are the store's", "[tools][wire]") {
  keel::mcp::ToolRegistry registry;
  keel::tools::register_all(registry, std::make_shared<keel::tools::ToolEnv>());
  auto property = [&](std::string_view tool, std::string_view name) {
    const auto* t = registry.find(tool);
    REQUIRE(t != nullptr);
    return t->input_schema.at("properties").at(name).as_object();
  };
  const auto lease_name = static_cast<std::int64_t>(keel::state::kMaxLeaseNameBytes);
  CHECK(property("lease_acquire", "name").at("maxLength") == lease_name);
  CHECK(property("lease_adopt", "name").at("maxLength") == lease_name);
  namespace esc = keel::state::escalation;
  CHECK(property("escalation_request", "reason").at("maxLength") == static_cast<std::int64_t>(esc::kMaxReasonBytes));
  CHECK(property("escalation_request", "severity").at("maxLength") ==
        static_cast<std::int64_t>(esc::kMaxSeverityBytes));
  CHECK(property("escalation_list", "limit").at("maximum") == esc::kMaxPageSize);
}

TEST_CASE("wire: a variant is anyOf, decoded as the first alternative that fits", "[tools][wire]") {
  using Choice = std::variant<keel::state::LeaseMode, Inner>;
  CHECK(json::serialize(wire::type_schema<Choice>(wire::Direction::kInput)) ==
        R"({"anyOf":[{"type":"string","enum":["exclusive","shared"]},)"
        R"({"type":"object","properties":{"name":{"type":"string"},"token":{"type":"integer","minimum":1}},)"
        R"("required":["name","token"],"additionalProperties":false}]})");
  CHECK(std::get<keel::state::LeaseMode>(wire::decode<Choice>(json::value("shared"))) ==
        keel::state::LeaseMode::kShared);
  CHECK(std::get<Inner>(wire::decode<Choice>(json::parse(R"({"name":"n","token":1})"))).name == "n");
  CHECK(wire::encode(Choice{Inner{"m", 2}}) == json::parse(R"({"name":"m","token":2})"));
  CHECK_THROWS_WITH(wire::decode<Choice>(json::value("neither")),
                    "/: must match one of the allowed alternatives");
}

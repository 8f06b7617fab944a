// keel/tests/unit/state_memory_match_test.cpp — the match templates and
// equal_within (state/memory_match.h) that memory_take, memory_wait,
// memory_list and memory_txn's value compares rely on.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>

#include <boost/json.hpp>

#include "state/memory_match.h"
#include "state/store.h"

using namespace keel::state;
namespace json = boost::json;

namespace {

bool matches(const char* value, const char* tmpl) {
  return matches_template(json::parse(value), json::parse(tmpl));
}

}  // namespace

TEST_CASE("memory_match: templates by equality, nesting and $exists", "[state][memory]") {
  CHECK(matches(R"({"kind":"test","n":1})", R"({"kind":"test"})"));
  CHECK_FALSE(matches(R"({"kind":"build"})", R"({"kind":"test"})"));
  CHECK(matches(R"({"n":1})", R"({"n":1.0})"));  // numbers by value
  CHECK(matches(R"({"tags":["a","b"]})", R"({"tags":["a","b"]})"));
  CHECK_FALSE(matches(R"({"tags":["a","b","c"]})", R"({"tags":["a","b"]})"));  // arrays whole
  CHECK(matches(R"({"t":{"os":"linux","arch":"x64"}})", R"({"t":{"os":"linux"}})"));
  CHECK_FALSE(matches(R"({"t":"linux"})", R"({"t":{"os":"linux"}})"));
  CHECK(matches(R"({"a":{"b":{"c":null}}})", R"({"a":{"b":{"c":{"$exists":true}}}})"));
  CHECK(matches(R"({"a":1})", R"({"b":{"$exists":false}})"));
  CHECK_FALSE(matches(R"({"a":1})", R"({"a":{"$exists":false}})"));
  CHECK(matches(R"("a string")", R"({"a":{"$exists":false}})"));  // not an object
  CHECK_FALSE(matches(R"("a string")", R"({"a":1})"));
  CHECK(matches(R"([1,2])", R"({})"));  // {} matches everything
  // Big integers compare exactly, not as doubles.
  CHECK_FALSE(matches(R"({"id":9007199254740993})", R"({"id":9007199254740992})"));
  CHECK(matches(R"({"id":18446744073709551615})", R"({"id":18446744073709551615})"));
}

TEST_CASE("memory_match: bad templates are refused with a clear error", "[state][memory]") {
  auto refused = [](const char* tmpl) {
    try {
      check_match_template(json::parse(tmpl));
    } catch (const StoreError& e) {
      return e.code() == ErrorCode::kInvalidArgument;
    }
    return false;
  };
  CHECK(refused(R"([1])"));
  CHECK(refused(R"("x")"));
  CHECK(refused(R"({"$exists":true})"));
  CHECK(refused(R"({"a":{"$exists":1}})"));
  CHECK(refused(R"({"a":{"$exists":true,"b":1}})"));
  std::string deep = "1";
  for (int i = 0; i < 20; ++i) deep = R"({"a":)" + deep + "}";
  CHECK(refused(deep.c_str()));
  CHECK_FALSE(refused(R"({"a":{"b":{"$exists":false}}})"));
}

TEST_CASE("memory_match: equal_within, with tolerance and big integers", "[state][memory]") {
  const json::value two53(std::int64_t{9007199254740992});
  const json::value two53_plus_1(std::uint64_t{9007199254740993});
  CHECK_FALSE(equal_within(two53, two53_plus_1, 0));  // int64 vs uint64, exactly
  CHECK(equal_within(two53, two53_plus_1, 1));
  CHECK_FALSE(equal_within(two53, two53_plus_1, 0.5));
  CHECK(equal_within(two53, two53_plus_1, 1.5));
  const json::value big(std::int64_t{9007199254740995});
  CHECK_FALSE(equal_within(two53, big, 2));  // as doubles, 2^53 + 3 is 2^53 + 4
  CHECK(equal_within(two53, big, 3));
  CHECK(equal_within(json::value(1), json::value(1.0), 0));
  CHECK(equal_within(json::value(1.0), json::value(1.25), 0.25));
  CHECK_FALSE(equal_within(json::value(1.0), json::value(1.25), 0.2));
  CHECK(equal_within(json::value(-3), json::value(std::uint64_t{3}), 6));
  CHECK_FALSE(equal_within(json::value(-3), json::value(std::uint64_t{3}), 5.9));

  // The far ends: INT64_MIN and UINT64_MAX differ by 2^64 + 2^63 - 1.
  const json::value lo(std::numeric_limits<std::int64_t>::min());
  const json::value hi(std::numeric_limits<std::uint64_t>::max());
  CHECK(equal_within(lo, lo, 0));
  CHECK(equal_within(hi, hi, 0));
  CHECK_FALSE(equal_within(lo, hi, 1e19));
  CHECK(equal_within(lo, hi, 3e19));
  CHECK_FALSE(equal_within(lo, json::value(std::int64_t{0}), 9.2e18));
  CHECK(equal_within(lo, json::value(std::int64_t{0}), 9.3e18));

  // Anywhere in a document; objects regardless of order; kinds must agree.
  CHECK(equal_within(json::parse(R"({"a":[1,{"b":2.0}],"c":"x"})"),
                     json::parse(R"({"c":"x","a":[1.0,{"b":2}]})"), 0));
  CHECK_FALSE(equal_within(json::parse(R"({"a":[1]})"), json::parse(R"({"a":[1,2]})"), 0));
  CHECK_FALSE(equal_within(json::parse(R"("1")"), json::parse("1"), 0));
  CHECK_FALSE(equal_within(json::parse("null"), json::parse("0"), 1));
}

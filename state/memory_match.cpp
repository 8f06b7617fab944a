// keel/state/memory_match.cpp
#include "state/memory_match.h"

#include <cmath>
#include <cstdint>

#include <boost/json.hpp>

#include "state/principal.h"

namespace keel::state {
namespace json = boost::json;

namespace {

constexpr int kMaxDepth = 16;

bool is_number(const json::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }

double as_double(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return v.get_double();
}

// The {"$exists": bool} form, or nullptr.
const json::value* exists_operand(const json::object& o) {
  if (o.size() != 1) return nullptr;
  auto it = o.find("$exists");
  return it == o.end() ? nullptr : &it->value();
}

void check_object(const json::object& tmpl, int depth) {
  if (depth > kMaxDepth) {
    throw StoreError(ErrorCode::kInvalidArgument, "match template nests deeper than 16 levels");
  }
  for (const auto& field : tmpl) {
    if (field.key() == "$exists") {
      throw StoreError(ErrorCode::kInvalidArgument,
                       "match: \"$exists\" must be the only field of a field's template, "
                       "with a boolean");
    }
    if (!field.value().is_object()) continue;
    const json::object& sub = field.value().get_object();
    if (auto it = sub.find("$exists"); it != sub.end()) {
      if (sub.size() != 1 || !it->value().is_bool()) {
        throw StoreError(ErrorCode::kInvalidArgument,
                         "match: field \"" + std::string(field.key()) +
                             "\": \"$exists\" must be the only field, with a boolean");
      }
      continue;
    }
    check_object(sub, depth + 1);
  }
}

// An integer as sign and magnitude, so int64 and uint64 compare exactly.
struct Integer {
  bool negative = false;
  std::uint64_t magnitude = 0;
};

Integer as_integer(const json::value& v) {
  if (v.is_uint64()) return Integer{false, v.get_uint64()};
  const std::int64_t i = v.get_int64();
  // -(i + 1) + 1 cannot overflow, even for INT64_MIN.
  if (i < 0) return Integer{true, static_cast<std::uint64_t>(-(i + 1)) + 1};
  return Integer{false, static_cast<std::uint64_t>(i)};
}

// Two integers compare exactly (as doubles, 2^53 + 1 would equal 2^53),
// with a tolerance too: their exact difference against it.
bool integers_equal(const json::value& a, const json::value& b, double tolerance) {
  const Integer x = as_integer(a);
  const Integer y = as_integer(b);
  if (x.negative == y.negative && x.magnitude == y.magnitude) return true;
  if (tolerance < 1) return false;
  // diff ≤ tolerance ⇔ diff ≤ floor(tolerance), diff being an integer; it
  // is below 2^64 with equal signs and below 2^65 with opposite ones.
  constexpr double kTwo64 = 18446744073709551616.0;
  if (x.negative == y.negative) {
    const std::uint64_t diff =
        x.magnitude > y.magnitude ? x.magnitude - y.magnitude : y.magnitude - x.magnitude;
    return tolerance >= kTwo64 || diff <= static_cast<std::uint64_t>(std::floor(tolerance));
  }
  // Opposite signs: diff = |x| + |y|; `sum` is it modulo 2^64.
  const std::uint64_t sum = x.magnitude + y.magnitude;
  const bool over = sum < x.magnitude;  // diff ≥ 2^64
  if (tolerance >= 2 * kTwo64) return true;
  if (tolerance >= kTwo64) {
    // tolerance - 2^64 is exact (Sterbenz): both lie in [2^64, 2^65).
    return !over || sum <= static_cast<std::uint64_t>(std::floor(tolerance - kTwo64));
  }
  return !over && sum <= static_cast<std::uint64_t>(std::floor(tolerance));
}

bool numbers_equal(const json::value& a, const json::value& b, double tolerance) {
  if (!a.is_double() && !b.is_double()) return integers_equal(a, b, tolerance);
  return std::fabs(as_double(a) - as_double(b)) <= tolerance;
}

bool object_matches(const json::value& value, const json::object& tmpl) {
  const json::object* obj = value.if_object();
  for (const auto& field : tmpl) {
    const json::value* actual = nullptr;
    if (obj != nullptr) {
      if (auto it = obj->find(field.key()); it != obj->end()) actual = &it->value();
    }
    if (field.value().is_object()) {
      const json::object& sub = field.value().get_object();
      if (const json::value* exists = exists_operand(sub)) {
        if ((actual != nullptr) != exists->get_bool()) return false;
        continue;
      }
      if (actual == nullptr || !actual->is_object() || !object_matches(*actual, sub)) return false;
      continue;
    }
    if (actual == nullptr || !equal_within(*actual, field.value(), 0)) return false;
  }
  return true;
}

}  // namespace

void check_match_template(const json::value& tmpl) {
  if (!tmpl.is_object()) {
    throw StoreError(ErrorCode::kInvalidArgument, "match must be a JSON object (a template)");
  }
  check_object(tmpl.get_object(), 1);
}

bool matches_template(const json::value& value, const json::value& tmpl) {
  return object_matches(value, tmpl.get_object());
}

bool equal_within(const json::value& a, const json::value& b, double tolerance) {
  if (is_number(a) && is_number(b)) return numbers_equal(a, b, tolerance);
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const json::object& x = a.get_object();
    const json::object& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& field : x) {
      auto it = y.find(field.key());
      if (it == y.end() || !equal_within(field.value(), it->value(), tolerance)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    const json::array& x = a.get_array();
    const json::array& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!equal_within(x[i], y[i], tolerance)) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace keel::state

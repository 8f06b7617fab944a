// keel/tools/tool_schema.h — a tool's JSON declared once, as C++ types.
//
// A tool's arguments (and its result) are plain structs described with
// Boost.Describe; from one struct come its JSON Schema (inputSchema /
// outputSchema), the decoding of the arguments and the encoding of the result:
//
//   struct ReleaseArgs {
//     std::string name;                     // required: not optional, no default shown
//     std::optional<std::string> lease_id;  // optional: absent = nullopt
//     bool force = false;                   // optional, "default": false
//     static constexpr wire::Doc docs[] = {
//         {.name = "name", .min_length = 1},
//         {.name = "force", .show_default = true}};
//   };
//   BOOST_DESCRIBE_STRUCT(ReleaseArgs, (), (name, lease_id, force))
//
// Types: bool → boolean; integers → integer; floating → number; std::string →
// string; an enum described with BOOST_DESCRIBE_ENUM → string with "enum"
// (each value spelled by its to_string(), found by ADL); boost::json::value →
// any JSON ({}); boost::json::object / array → object / array;
// std::vector<T> → array of T; std::variant<A, B> → anyOf (decoded as the
// first alternative that fits); std::optional<T> → T, not required; a
// described struct → object (additionalProperties false in an input schema).
// A member named with a trailing underscore (namespace_) is the property
// without it. Properties come in declaration order (base members first).
//
// A struct with `static boost::json::object defs(Direction)` gets "$defs" (for
// members whose Doc::schema is a "$ref").
//
// Field facts (description, bounds, enum values, "default") are the struct's
// `docs`, keyed by member name; a doc that names no member is refused at
// start-up (std::logic_error), like a typo in a schema literal was.
//
// Thread safety: pure functions over their arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <boost/mp11.hpp>

#include "tools/tool_error.h"

namespace keel::tools::wire {

// What the schema says about one member besides its type.
struct Doc {
  std::string_view name;  // the member, as BOOST_DESCRIBE_STRUCT lists it
  std::string_view description{};
  std::optional<std::int64_t> min_length{};
  std::optional<std::int64_t> max_length{};
  std::optional<std::int64_t> minimum{};
  std::optional<std::int64_t> exclusive_minimum{};
  std::optional<std::int64_t> maximum{};
  std::optional<std::int64_t> max_items{};
  std::span<const std::string_view> one_of{};  // "enum" of a string member
  bool show_default = false;  // "default": the member's value in a value-initialized struct
  // A JSON Schema literal that stands for the member's type: what the type
  // cannot say ($ref, anyOf). The keys above are merged into it.
  std::string_view schema{};
};

enum class Direction { kInput, kOutput };

namespace detail {

namespace json = boost::json;
namespace bd = boost::describe;

template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};
template <class T> struct is_variant : std::false_type {};
template <class... T> struct is_variant<std::variant<T...>> : std::true_type {};
template <class T> struct is_vector : std::false_type {};
template <class T, class A> struct is_vector<std::vector<T, A>> : std::true_type {};

// A member of type M takes any JSON, null included.
template <class M>
constexpr bool holds_any_json =
    std::is_same_v<M, json::value> || std::is_same_v<M, std::optional<json::value>>;

template <class T>
using members = bd::describe_members<T, bd::mod_public | bd::mod_inherited>;

template <class T>
constexpr bool is_described_struct = bd::has_describe_members<T>::value;

// "namespace_" → "namespace".
constexpr std::string_view property_name(std::string_view member) {
  return !member.empty() && member.back() == '_' ? member.substr(0, member.size() - 1) : member;
}

// The doc of `member` in T's docs or its bases'; null when there is none.
template <class T>
const Doc* find_doc(std::string_view member) {
  if constexpr (requires { T::docs; }) {
    for (const Doc& d : T::docs) {
      if (d.name == member) return &d;
    }
  }
  const Doc* found = nullptr;
  boost::mp11::mp_for_each<bd::describe_bases<T, bd::mod_public>>([&](auto base) {
    if (found == nullptr) found = find_doc<typename decltype(base)::type>(member);
  });
  return found;
}

// Refuses a doc naming no member of T (a typo).
template <class T>
void check_docs() {
  if constexpr (requires { T::docs; }) {
    for (const Doc& d : T::docs) {
      bool known = false;
      boost::mp11::mp_for_each<members<T>>([&](auto m) { known = known || d.name == m.name; });
      if (!known) throw std::logic_error("wire::Doc names no member: " + std::string(d.name));
    }
  }
  boost::mp11::mp_for_each<bd::describe_bases<T, bd::mod_public>>(
      [](auto base) { check_docs<typename decltype(base)::type>(); });
}

[[noreturn]] void fail(const std::string& path, std::string_view what);
json::object literal(std::string_view schema);  // parsed; std::logic_error if not an object
std::string child(const std::string& path, std::string_view key);

template <class E>
json::array enum_names() {
  json::array out;
  boost::mp11::mp_for_each<bd::describe_enumerators<E>>(
      [&](auto e) { out.emplace_back(to_string(e.value)); });
  return out;
}

template <class T> json::object schema_of(Direction dir);
template <class T> json::value encode(const T& v);
template <class T> T decode(const json::value& v, const std::string& path);
template <class T> T decode_struct(const json::object& o, const std::string& path);
template <class T, std::size_t... I>
T decode_first(const json::value& v, const std::string& path, std::index_sequence<I...>);

// The schema of member type M with its doc, keys in the order the schema
// literals used: type, enum, minLength, maxLength, minimum,
// exclusiveMinimum, maximum, default, description, items, maxItems,
// properties, required, additionalProperties, then the rest.
template <class M>
json::object field_schema(const Doc* doc, const M* default_value, Direction dir) {
  if (doc == nullptr) return detail::schema_of<M>(dir);
  json::object base = doc->schema.empty() ? detail::schema_of<M>(dir) : literal(doc->schema);
  json::object out;
  auto take = [&](std::string_view k) {
    if (auto* v = base.if_contains(k)) out[k] = *v;
  };
  auto put = [&](std::string_view k, const std::optional<std::int64_t>& v) {
    if (v) out[k] = *v;
  };
  take("type");
  if (!doc->one_of.empty()) {
    json::array names;
    for (std::string_view n : doc->one_of) names.emplace_back(n);
    out["enum"] = std::move(names);
  } else {
    take("enum");
  }
  put("minLength", doc->min_length);
  put("maxLength", doc->max_length);
  put("minimum", doc->minimum);
  put("exclusiveMinimum", doc->exclusive_minimum);
  put("maximum", doc->maximum);
  if (doc->show_default && default_value != nullptr) out["default"] = detail::encode(*default_value);
  if (!doc->description.empty()) out["description"] = doc->description;
  take("items");
  put("maxItems", doc->max_items);
  for (const auto& [k, v] : base) {
    if (!out.contains(k)) out[k] = v;
  }
  return out;
}

template <class T>
json::object struct_schema(Direction dir) {
  check_docs<T>();
  static const T defaults{};
  json::object props;
  json::array required;
  boost::mp11::mp_for_each<members<T>>([&](auto m) {
    using M = std::remove_cvref_t<decltype(defaults.*m.pointer)>;
    const Doc* doc = find_doc<T>(m.name);
    const std::string_view name = property_name(m.name);
    if constexpr (is_optional<M>::value) {
      props[name] = field_schema<typename M::value_type>(doc, nullptr, dir);
    } else {
      props[name] = field_schema<M>(doc, &(defaults.*m.pointer), dir);
      if (doc == nullptr || !doc->show_default) required.emplace_back(name);
    }
  });
  json::object out{{"type", "object"}};
  if constexpr (requires { T::defs(dir); }) out["$defs"] = T::defs(dir);  // what "$ref"s name
  if (!props.empty()) out["properties"] = std::move(props);
  if (!required.empty()) out["required"] = std::move(required);
  if (dir == Direction::kInput) out["additionalProperties"] = false;
  return out;
}

template <class T>
json::object schema_of(Direction dir) {
  if constexpr (std::is_same_v<T, bool>) {
    return {{"type", "boolean"}};
  } else if constexpr (std::is_enum_v<T>) {
    return {{"type", "string"}, {"enum", enum_names<T>()}};
  } else if constexpr (std::is_integral_v<T>) {
    return {{"type", "integer"}};
  } else if constexpr (std::is_floating_point_v<T>) {
    return {{"type", "number"}};
  } else if constexpr (std::is_same_v<T, std::string>) {
    return {{"type", "string"}};
  } else if constexpr (std::is_same_v<T, json::value>) {
    return {};
  } else if constexpr (std::is_same_v<T, json::object>) {
    return {{"type", "object"}};
  } else if constexpr (std::is_same_v<T, json::array>) {
    return {{"type", "array"}};
  } else if constexpr (is_vector<T>::value) {
    return {{"type", "array"}, {"items", detail::schema_of<typename T::value_type>(dir)}};
  } else if constexpr (is_variant<T>::value) {
    json::array any;
    [&]<class... A>(std::variant<A...>*) { (any.push_back(detail::schema_of<A>(dir)), ...); }(
        static_cast<T*>(nullptr));
    return {{"anyOf", std::move(any)}};
  } else {
    static_assert(is_described_struct<T>, "wire: no schema for this type");
    return struct_schema<T>(dir);
  }
}

template <class T>
json::value encode(const T& v) {
  if constexpr (std::is_enum_v<T>) {
    return json::string(to_string(v));
  } else if constexpr (std::is_same_v<T, bool> || std::is_arithmetic_v<T>) {
    return json::value(v);
  } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, json::value> ||
                       std::is_same_v<T, json::object> || std::is_same_v<T, json::array>) {
    return json::value(v);
  } else if constexpr (is_variant<T>::value) {
    return std::visit([](const auto& alt) { return detail::encode(alt); }, v);
  } else if constexpr (is_vector<T>::value) {
    json::array out;
    out.reserve(v.size());
    for (const auto& e : v) out.push_back(detail::encode(e));
    return out;
  } else {
    static_assert(is_described_struct<T>, "wire: cannot encode this type");
    json::object out;
    boost::mp11::mp_for_each<members<T>>([&](auto m) {
      const auto& field = v.*m.pointer;
      using M = std::remove_cvref_t<decltype(field)>;
      if constexpr (is_optional<M>::value) {
        if (field) out[property_name(m.name)] = detail::encode(*field);
      } else {
        out[property_name(m.name)] = detail::encode(field);
      }
    });
    return out;
  }
}

template <class T>
T decode(const json::value& v, const std::string& path) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_bool()) fail(path, "must be a boolean");
    return v.get_bool();
  } else if constexpr (std::is_enum_v<T>) {
    if (v.is_string()) {
      std::optional<T> found;
      boost::mp11::mp_for_each<bd::describe_enumerators<T>>([&](auto e) {
        if (!found && v.get_string() == to_string(e.value)) found = e.value;
      });
      if (found) return *found;
    }
    std::string list;
    for (const auto& n : enum_names<T>()) list += (list.empty() ? "" : ", ") + std::string(n.as_string());
    fail(path, "must be one of: " + list);
  } else if constexpr (std::is_integral_v<T>) {
    if (v.is_int64()) return static_cast<T>(v.get_int64());
    if (v.is_uint64()) return static_cast<T>(v.get_uint64());
    fail(path, "must be an integer");
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!v.is_number()) fail(path, "must be a number");
    return v.to_number<T>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) fail(path, "must be a string");
    return std::string(v.get_string());
  } else if constexpr (std::is_same_v<T, json::value>) {
    return v;
  } else if constexpr (std::is_same_v<T, json::object>) {
    if (!v.is_object()) fail(path, "must be an object");
    return v.get_object();
  } else if constexpr (std::is_same_v<T, json::array>) {
    if (!v.is_array()) fail(path, "must be an array");
    return v.get_array();
  } else if constexpr (is_variant<T>::value) {
    return decode_first<T>(v, path, std::make_index_sequence<std::variant_size_v<T>>{});
  } else if constexpr (is_vector<T>::value) {
    if (!v.is_array()) fail(path, "must be an array");
    T out;
    out.reserve(v.get_array().size());
    for (std::size_t i = 0; i < v.get_array().size(); ++i) {
      out.push_back(detail::decode<typename T::value_type>(v.get_array()[i], path + "/" + std::to_string(i)));
    }
    return out;
  } else {
    static_assert(is_described_struct<T>, "wire: cannot decode this type");
    if (!v.is_object()) fail(path, "must be an object");
    return detail::decode_struct<T>(v.get_object(), path);
  }
}

// The first alternative of variant T that `v` decodes as.
template <class T, std::size_t... I>
T decode_first(const json::value& v, const std::string& path, std::index_sequence<I...>) {
  std::optional<T> out;
  auto attempt = [&]<std::size_t N>(std::integral_constant<std::size_t, N>) {
    if (out) return;
    try {
      out.emplace(std::in_place_index<N>, detail::decode<std::variant_alternative_t<N, T>>(v, path));
    } catch (const Failure&) {
    }
  };
  (attempt(std::integral_constant<std::size_t, I>{}), ...);
  if (!out) fail(path, "must match one of the allowed alternatives");
  return std::move(*out);
}

template <class T>
T decode_struct(const json::object& o, const std::string& path) {
  T out{};
  boost::mp11::mp_for_each<members<T>>([&](auto m) {
    auto& field = out.*m.pointer;
    using M = std::remove_cvref_t<decltype(field)>;
    const std::string_view name = property_name(m.name);
    const json::value* p = o.if_contains(name);
    if (p == nullptr || (p->is_null() && !holds_any_json<M>)) {  // null reads as absent
      if constexpr (!is_optional<M>::value) {
        const Doc* doc = find_doc<T>(m.name);
        if (doc == nullptr || !doc->show_default) fail(child(path, name), "is required");
      }
      return;
    }
    if constexpr (is_optional<M>::value) {
      field = detail::decode<typename M::value_type>(*p, child(path, name));
    } else {
      field = detail::decode<M>(*p, child(path, name));
    }
  });
  return out;
}

}  // namespace detail

// The inputSchema / outputSchema of T (a described struct).
template <class T>
boost::json::object input_schema() {
  return detail::struct_schema<T>(Direction::kInput);
}
template <class T>
boost::json::object output_schema() {
  return detail::struct_schema<T>(Direction::kOutput);
}

// The schema of a member type on its own (an array's items, a shared shape).
template <class T>
boost::json::object type_schema(Direction dir) {
  return detail::schema_of<T>(dir);
}

// Arguments to T. The server has validated them against input_schema<T>(),
// so a failure here means a hand-made call: Failure(kInvalidArgument,
// "/path: must be ...").
template <class T>
T decode(const boost::json::object& args) {
  return detail::decode_struct<T>(args, "");
}
template <class T>
T decode(const boost::json::value& v) {
  return detail::decode<T>(v, "");
}

template <class T>
boost::json::value encode(const T& v) {
  return detail::encode(v);
}
// encode() of a struct, as the object it is.
template <class T>
boost::json::object encode_object(const T& v) {
  return detail::encode(v).as_object();
}

}  // namespace keel::tools::wire

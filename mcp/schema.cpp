// keel/mcp/schema.cpp — the JSON Schema subset validator.
#include "mcp/schema.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <string_view>

#include <boost/json/serialize.hpp>

namespace keel::mcp {

namespace json = boost::json;

std::string SchemaError::to_string() const {
  return (path.empty() ? std::string("/") : path) + ": " + message;
}

std::string join_errors(const std::vector<SchemaError>& errors, const std::string& sep) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += sep;
    out += e.to_string();
  }
  return out;
}

void normalize_integers(json::value& v) {
  constexpr double kMaxExact = 9007199254740992.0;  // 2^53
  switch (v.kind()) {
    case json::kind::double_: {
      const double d = v.get_double();
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= kMaxExact) {
        v = static_cast<std::int64_t>(d);
      }
      break;
    }
    case json::kind::array:
      for (auto& e : v.get_array()) normalize_integers(e);
      break;
    case json::kind::object:
      for (auto& kv : v.get_object()) normalize_integers(kv.value());
      break;
    default:
      break;
  }
}

namespace {

std::string escape_pointer_token(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string child(const std::string& path, std::string_view key) {
  return path + "/" + escape_pointer_token(key);
}

std::string child(const std::string& path, std::size_t index) {
  return path + "/" + std::to_string(index);
}

std::string format_number(double d) {
  if (std::trunc(d) == d && std::fabs(d) < 1e15) {
    return std::to_string(static_cast<long long>(d));
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", d);
  return buf;
}

// A short rendering of a JSON value for messages.
std::string render(const json::value& v) {
  std::string s;
  if (v.is_number()) {
    s = format_number(v.to_number<double>());
  } else {
    s = json::serialize(v);
  }
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

bool is_integer(const json::value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  if (v.is_double()) {
    const double d = v.get_double();
    return std::isfinite(d) && std::trunc(d) == d;
  }
  return false;
}

bool matches_type(const json::value& v, std::string_view type) {
  if (type == "null") return v.is_null();
  if (type == "boolean") return v.is_bool();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "number") return v.is_number();
  if (type == "integer") return is_integer(v);
  return true;  // unknown type names are not ours to reject
}

std::string type_noun(std::string_view type) {
  if (type == "null") return "null";
  if (type == "boolean") return "a boolean";
  if (type == "object") return "an object";
  if (type == "array") return "an array";
  if (type == "string") return "a string";
  if (type == "number") return "a number";
  if (type == "integer") return "an integer";
  return std::string(type);
}

const json::value* get(const json::object& o, std::string_view key) { return o.if_contains(key); }

std::optional<double> get_number(const json::object& o, std::string_view key) {
  const json::value* v = get(o, key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

std::optional<std::size_t> get_count(const json::object& o, std::string_view key) {
  const json::value* v = get(o, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::size_t>(v->get_int64());
  if (v->is_uint64()) return static_cast<std::size_t>(v->get_uint64());
  if (v->is_double() && v->get_double() >= 0 && std::isfinite(v->get_double())) {
    return static_cast<std::size_t>(v->get_double());
  }
  return std::nullopt;
}

// "≥ 1 and ≤ 10" from the numeric bounds of a schema ("" if none).
std::string describe_bounds(const json::object& s) {
  std::string out;
  auto add = [&out](const std::string& part) {
    if (!out.empty()) out += " and";
    out += " " + part;
  };
  if (auto m = get_number(s, "minimum")) add("≥ " + format_number(*m));
  if (auto m = get_number(s, "exclusiveMinimum")) add("> " + format_number(*m));
  if (auto m = get_number(s, "maximum")) add("≤ " + format_number(*m));
  if (auto m = get_number(s, "exclusiveMaximum")) add("< " + format_number(*m));
  return out;
}

// What the schema's "type" asks for: "an integer ≥ 1", "a string or null".
std::string describe_type(const json::object& s) {
  const json::value* t = get(s, "type");
  std::string noun;
  bool numeric = false;
  if (t != nullptr && t->is_string()) {
    noun = type_noun(t->get_string());
    numeric = t->get_string() == "integer" || t->get_string() == "number";
  } else if (t != nullptr && t->is_array()) {
    const auto& arr = t->get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_string()) continue;
      if (!noun.empty()) noun += (i + 1 == arr.size()) ? " or " : ", ";
      noun += type_noun(arr[i].get_string());
      if (arr[i].get_string() == "integer" || arr[i].get_string() == "number") numeric = true;
    }
  } else {
    noun = "a number";
    numeric = true;
  }
  if (numeric) noun += describe_bounds(s);
  return noun;
}

class Validator {
 public:
  Validator(const json::value& root, const SchemaValidateOptions& opts) : root_(root), opts_(opts) {}

  void run(const json::value& schema, const json::value& inst, const std::string& path,
           std::vector<SchemaError>& out, std::size_t depth) {
    if (out.size() >= opts_.max_errors) return;
    if (depth > opts_.max_depth) {
      out.push_back({path, "schema nesting too deep (recursive $ref?)"});
      return;
    }
    if (schema.is_bool()) {
      if (!schema.get_bool()) out.push_back({path, "is not allowed"});
      return;
    }
    if (!schema.is_object()) return;
    const json::object& s = schema.get_object();

    if (const json::value* ref = get(s, "$ref"); ref != nullptr && ref->is_string()) {
      std::string_view r = ref->get_string();
      if (!r.empty() && r.front() == '#') {
        json::error_code ec;
        const json::value* target = root_.find_pointer(r.substr(1), ec);
        if (target == nullptr || ec) {
          out.push_back({path, "schema error: unresolvable $ref " + std::string(r)});
          return;
        }
        run(*target, inst, path, out, depth + 1);
      }
      // Remote refs are not resolved (and not enforced).
    }

    // type first: a value of the wrong type gets one clear error.
    if (const json::value* t = get(s, "type")) {
      bool ok = true;
      if (t->is_string()) {
        ok = matches_type(inst, t->get_string());
      } else if (t->is_array()) {
        ok = false;
        for (const auto& tt : t->get_array()) {
          if (tt.is_string() && matches_type(inst, tt.get_string())) ok = true;
        }
        if (t->get_array().empty()) ok = true;
      }
      if (!ok) {
        out.push_back({path, "must be " + describe_type(s)});
        return;
      }
    }

    if (const json::value* e = get(s, "enum"); e != nullptr && e->is_array()) {
      bool found = false;
      for (const auto& cand : e->get_array()) {
        if (equal(cand, inst)) {
          found = true;
          break;
        }
      }
      if (!found) {
        std::string list;
        for (const auto& cand : e->get_array()) {
          if (!list.empty()) list += ", ";
          list += render(cand);
        }
        out.push_back({path, "must be one of: " + list});
      }
    }
    if (const json::value* c = get(s, "const")) {
      if (!equal(*c, inst)) out.push_back({path, "must be " + render(*c)});
    }

    if (inst.is_number()) check_number(s, inst, path, out);
    if (inst.is_string()) check_string(s, inst.get_string(), path, out);
    if (inst.is_object()) check_object(s, inst.get_object(), path, out, depth);
    if (inst.is_array()) check_array(s, inst.get_array(), path, out, depth);

    check_combinators(s, inst, path, out, depth);
  }

 private:
  static bool equal(const json::value& a, const json::value& b) {
    if (a.is_number() && b.is_number()) {
      if (is_integer(a) && is_integer(b) && !a.is_double() && !b.is_double()) return a == b;
      return a.to_number<double>() == b.to_number<double>();
    }
    if (a.kind() != b.kind()) return false;
    if (a.is_array()) {
      const auto& x = a.get_array();
      const auto& y = b.get_array();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!equal(x[i], y[i])) return false;
      }
      return true;
    }
    if (a.is_object()) {
      const auto& x = a.get_object();
      const auto& y = b.get_object();
      if (x.size() != y.size()) return false;
      for (const auto& kv : x) {
        const json::value* other = y.if_contains(kv.key());
        if (other == nullptr || !equal(kv.value(), *other)) return false;
      }
      return true;
    }
    return a == b;
  }

  void check_number(const json::object& s, const json::value& inst, const std::string& path,
                    std::vector<SchemaError>& out) {
    const double x = inst.to_number<double>();
    bool ok = true;
    if (auto m = get_number(s, "minimum"); m && !(x >= *m)) ok = false;
    if (auto m = get_number(s, "maximum"); m && !(x <= *m)) ok = false;
    if (auto m = get_number(s, "exclusiveMinimum"); m && !(x > *m)) ok = false;
    if (auto m = get_number(s, "exclusiveMaximum"); m && !(x < *m)) ok = false;
    if (!ok) out.push_back({path, "must be " + describe_type(s)});
  }

  static std::size_t code_points(std::string_view str) {
    std::size_t n = 0;
    for (unsigned char c : str) {
      if ((c & 0xC0) != 0x80) ++n;
    }
    return n;
  }

  void check_string(const json::object& s, std::string_view str, const std::string& path,
                    std::vector<SchemaError>& out) {
    const std::size_t len = code_points(str);
    if (auto m = get_count(s, "minLength"); m && len < *m) {
      out.push_back({path, "must be at least " + std::to_string(*m) + " characters long"});
    }
    if (auto m = get_count(s, "maxLength"); m && len > *m) {
      out.push_back({path, "must be at most " + std::to_string(*m) + " characters long"});
    }
  }

  void check_object(const json::object& s, const json::object& inst, const std::string& path,
                    std::vector<SchemaError>& out, std::size_t depth) {
    const json::value* props = get(s, "properties");
    const json::object* props_o = (props != nullptr && props->is_object()) ? &props->get_object()
                                                                            : nullptr;
    if (const json::value* req = get(s, "required"); req != nullptr && req->is_array()) {
      for (const auto& r : req->get_array()) {
        if (r.is_string() && !inst.contains(r.get_string())) {
          out.push_back({child(path, r.get_string()), "is required"});
        }
      }
    }
    const json::value* additional = get(s, "additionalProperties");
    const bool patterns = get(s, "patternProperties") != nullptr;
    for (const auto& kv : inst) {
      if (out.size() >= opts_.max_errors) return;
      const json::value* sub = props_o != nullptr ? props_o->if_contains(kv.key()) : nullptr;
      if (sub != nullptr) {
        run(*sub, kv.value(), child(path, kv.key()), out, depth + 1);
      } else if (additional != nullptr && !patterns) {
        if (additional->is_bool() && !additional->get_bool()) {
          out.push_back({child(path, kv.key()), "is not allowed (unknown property)"});
        } else {
          run(*additional, kv.value(), child(path, kv.key()), out, depth + 1);
        }
      }
    }
    if (auto m = get_count(s, "minProperties"); m && inst.size() < *m) {
      out.push_back({path, "must have at least " + std::to_string(*m) + " properties"});
    }
    if (auto m = get_count(s, "maxProperties"); m && inst.size() > *m) {
      out.push_back({path, "must have at most " + std::to_string(*m) + " properties"});
    }
  }

  void check_array(const json::object& s, const json::array& inst, const std::string& path,
                   std::vector<SchemaError>& out, std::size_t depth) {
    std::size_t first = 0;
    const json::value* prefix = get(s, "prefixItems");
    const json::value* items = get(s, "items");
    if (items != nullptr && items->is_array()) {  // draft-07 tuple form
      prefix = items;
      items = get(s, "additionalItems");
    }
    if (prefix != nullptr && prefix->is_array()) {
      const auto& ps = prefix->get_array();
      for (; first < ps.size() && first < inst.size(); ++first) {
        run(ps[first], inst[first], child(path, first), out, depth + 1);
      }
    }
    if (items != nullptr) {
      for (std::size_t i = first; i < inst.size() && out.size() < opts_.max_errors; ++i) {
        run(*items, inst[i], child(path, i), out, depth + 1);
      }
    }
    if (auto m = get_count(s, "minItems"); m && inst.size() < *m) {
      out.push_back({path, "must have at least " + std::to_string(*m) + " items"});
    }
    if (auto m = get_count(s, "maxItems"); m && inst.size() > *m) {
      out.push_back({path, "must have at most " + std::to_string(*m) + " items"});
    }
    if (const json::value* u = get(s, "uniqueItems"); u != nullptr && u->is_bool() && u->get_bool()) {
      for (std::size_t i = 0; i < inst.size(); ++i) {
        for (std::size_t j = i + 1; j < inst.size(); ++j) {
          if (equal(inst[i], inst[j])) {
            out.push_back({path, "must not contain duplicate items (items " + std::to_string(i) +
                                     " and " + std::to_string(j) + ")"});
            return;
          }
        }
      }
    }
  }

  // Errors of each alternative; returns how many matched and the errors of
  // the closest miss.
  std::size_t try_alternatives(const json::array& alts, const json::value& inst,
                               const std::string& path, std::size_t depth,
                               std::vector<SchemaError>& closest) {
    std::size_t matched = 0;
    bool have_closest = false;
    for (const auto& alt : alts) {
      std::vector<SchemaError> errs;
      run(alt, inst, path, errs, depth + 1);
      if (errs.empty()) {
        ++matched;
      } else if (!have_closest || errs.size() < closest.size()) {
        closest = std::move(errs);
        have_closest = true;
      }
    }
    return matched;
  }

  // "must be one of: a, b" when every alternative is a {const} (titled enum).
  static std::optional<std::string> const_alternatives(const json::array& alts) {
    std::string list;
    for (const auto& a : alts) {
      if (!a.is_object() || !a.get_object().contains("const")) return std::nullopt;
      if (!list.empty()) list += ", ";
      list += render(a.get_object().at("const"));
    }
    return list;
  }

  void report_no_match(const json::array& alts, const std::string& path, const char* what,
                       std::vector<SchemaError>& closest, std::vector<SchemaError>& out) {
    if (auto consts = const_alternatives(alts)) {
      out.push_back({path, "must be one of: " + *consts});
      return;
    }
    out.push_back({path, std::string("must match ") + what + " of the allowed alternatives"});
    for (auto& e : closest) {
      if (out.size() >= opts_.max_errors) break;
      out.push_back(std::move(e));
    }
  }

  void check_combinators(const json::object& s, const json::value& inst, const std::string& path,
                         std::vector<SchemaError>& out, std::size_t depth) {
    if (const json::value* all = get(s, "allOf"); all != nullptr && all->is_array()) {
      for (const auto& sub : all->get_array()) run(sub, inst, path, out, depth + 1);
    }
    if (const json::value* any = get(s, "anyOf");
        any != nullptr && any->is_array() && !any->get_array().empty()) {
      std::vector<SchemaError> closest;
      if (try_alternatives(any->get_array(), inst, path, depth, closest) == 0) {
        report_no_match(any->get_array(), path, "at least one", closest, out);
      }
    }
    if (const json::value* one = get(s, "oneOf");
        one != nullptr && one->is_array() && !one->get_array().empty()) {
      std::vector<SchemaError> closest;
      const std::size_t n = try_alternatives(one->get_array(), inst, path, depth, closest);
      if (n == 0) {
        report_no_match(one->get_array(), path, "exactly one", closest, out);
      } else if (n > 1) {
        out.push_back({path, "must match exactly one of the allowed alternatives, matches " +
                                 std::to_string(n)});
      }
    }
    if (const json::value* no = get(s, "not")) {
      std::vector<SchemaError> errs;
      run(*no, inst, path, errs, depth + 1);
      if (errs.empty()) out.push_back({path, "must not match the excluded schema"});
    }
    if (const json::value* cond = get(s, "if")) {
      std::vector<SchemaError> errs;
      run(*cond, inst, path, errs, depth + 1);
      const json::value* branch = errs.empty() ? get(s, "then") : get(s, "else");
      if (branch != nullptr) run(*branch, inst, path, out, depth + 1);
    }
  }

  const json::value& root_;
  const SchemaValidateOptions& opts_;
};

}  // namespace

std::vector<SchemaError> validate_schema(const json::value& schema, const json::value& instance,
                                         const SchemaValidateOptions& options) {
  std::vector<SchemaError> out;
  Validator v(schema, options);
  v.run(schema, instance, "", out, 0);
  if (out.size() > options.max_errors) out.resize(options.max_errors);
  return out;
}

}  // namespace keel::mcp

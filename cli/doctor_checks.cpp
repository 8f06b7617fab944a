// The decisions of `keel doctor` that need no process: TOML, Codex hook trust,
// Gemini folder trust, versions. See doctor_checks.h.
#include "cli/doctor_checks.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "cli/settings_json.h"
#include "crypto/sha256.h"

namespace keel::cli::doctor {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_bare_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A recursive-descent reader of one TOML document into JSON.
class TomlParser {
 public:
  TomlParser(std::string_view s, std::string_view where) : s_(s), where_(where) {}

  json::object parse() {
    for (;;) {
      skip_ws_nl();
      if (eof()) break;
      if (peek() == '[') {
        parse_header();
      } else {
        std::vector<std::string> key = parse_key();
        skip_ws();
        if (peek() != '=') fail("expected '=' after the key '" + joined(key) + "'");
        ++i_;
        skip_ws();
        json::value v = parse_value();
        assign(*table_, key, std::move(v));
        expect_line_end();
      }
    }
    return std::move(root_);
  }

 private:
  std::string_view s_;
  std::string_view where_;
  std::size_t i_ = 0;
  std::size_t line_ = 1;
  json::object root_;
  json::object* table_ = &root_;
  std::set<std::string> defined_;  // explicit tables, by path (array elements indexed)

  [[noreturn]] void fail(const std::string& what) const {
    throw SettingsError(std::string(where_) + ":" + std::to_string(line_) + ": " + what);
  }
  bool eof() const { return i_ >= s_.size(); }
  char peek(std::size_t k = 0) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }
  bool starts(std::string_view p) const { return s_.substr(i_, p.size()) == p; }

  static std::string joined(const std::vector<std::string>& key) {
    std::string out;
    for (const auto& k : key) out += (out.empty() ? "" : ".") + k;
    return out;
  }

  void skip_ws() {
    while (!eof() && (peek() == ' ' || peek() == '\t')) ++i_;
  }
  void skip_comment() {
    if (peek() == '#') {
      while (!eof() && peek() != '\n') ++i_;
    }
  }
  bool take_newline() {
    if (peek() == '\n') {
      ++i_;
      ++line_;
      return true;
    }
    if (peek() == '\r' && peek(1) == '\n') {
      i_ += 2;
      ++line_;
      return true;
    }
    return false;
  }
  void skip_ws_nl() {
    for (;;) {
      skip_ws();
      skip_comment();
      if (!take_newline()) break;
    }
  }
  void expect_line_end() {
    skip_ws();
    skip_comment();
    if (eof() || take_newline()) return;
    fail(std::string("unexpected '") + peek() + "' after a value");
  }

  std::string parse_simple_key() {
    if (peek() == '"') {
      if (starts("\"\"\"")) fail("a key cannot be a multi-line string");
      return parse_basic_string();
    }
    if (peek() == '\'') {
      if (starts("'''")) fail("a key cannot be a multi-line string");
      return parse_literal_string();
    }
    std::size_t b = i_;
    while (!eof() && is_bare_key_char(peek())) ++i_;
    if (b == i_) fail(eof() ? "expected a key" : std::string("unexpected '") + peek() + "' where a key belongs");
    return std::string(s_.substr(b, i_ - b));
  }

  std::vector<std::string> parse_key() {
    std::vector<std::string> parts;
    for (;;) {
      skip_ws();
      parts.push_back(parse_simple_key());
      skip_ws();
      if (peek() != '.') break;
      ++i_;
    }
    return parts;
  }

  void parse_header() {
    const bool array = peek(1) == '[';
    i_ += array ? 2 : 1;
    std::vector<std::string> key = parse_key();
    skip_ws();
    if (array ? !starts("]]") : peek() != ']') fail("expected '" + std::string(array ? "]]" : "]") + "'");
    i_ += array ? 2 : 1;
    expect_line_end();

    json::object* t = &root_;
    std::string path;
    for (std::size_t k = 0; k + 1 < key.size(); ++k) {
      path += "\x1f" + key[k];
      auto it = t->find(key[k]);
      if (it == t->end()) {
        t = &(*t)[key[k]].emplace_object();
      } else if (it->value().is_object()) {
        t = &it->value().get_object();
      } else if (it->value().is_array() && !it->value().get_array().empty() &&
                 it->value().get_array().back().is_object()) {
        auto& arr = it->value().get_array();
        path += "\x1e" + std::to_string(arr.size() - 1);
        t = &arr.back().get_object();
      } else {
        fail("'" + joined(key) + "': '" + key[k] + "' is already a value, not a table");
      }
    }
    const std::string& last = key.back();
    path += "\x1f" + last;
    auto it = t->find(last);
    if (array) {
      json::array* arr = nullptr;
      if (it == t->end()) {
        arr = &(*t)[last].emplace_array();
      } else if (it->value().is_array()) {
        arr = &it->value().get_array();
      } else {
        fail("'" + joined(key) + "' is already defined and is not an array of tables");
      }
      arr->push_back(json::object());
      table_ = &arr->back().get_object();
      return;
    }
    if (it == t->end()) {
      table_ = &(*t)[last].emplace_object();
    } else if (it->value().is_object() && defined_.count(path) == 0) {
      table_ = &it->value().get_object();  // created implicitly by a longer header
    } else {
      fail("duplicate table [" + joined(key) + "]");
    }
    defined_.insert(path);
  }

  void assign(json::object& table, const std::vector<std::string>& key, json::value v) {
    json::object* t = &table;
    for (std::size_t k = 0; k + 1 < key.size(); ++k) {
      auto it = t->find(key[k]);
      if (it == t->end()) {
        t = &(*t)[key[k]].emplace_object();
      } else if (it->value().is_object()) {
        t = &it->value().get_object();
      } else {
        fail("duplicate key '" + joined(key) + "'");
      }
    }
    if (t->contains(key.back())) fail("duplicate key '" + joined(key) + "'");
    (*t)[key.back()] = std::move(v);
  }

  std::uint32_t hex_escape(std::size_t digits) {
    if (i_ + digits > s_.size()) fail("truncated escape");
    std::uint32_t cp = 0;
    for (std::size_t k = 0; k < digits; ++k) {
      char c = s_[i_ + k];
      cp <<= 4;
      if (c >= '0' && c <= '9') cp |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') cp |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') cp |= static_cast<std::uint32_t>(c - 'A' + 10);
      else fail("invalid escape");
    }
    i_ += digits;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail("escape is not a Unicode scalar value");
    return cp;
  }

  // After a backslash inside a basic string.
  void escape(std::string& out) {
    char c = peek();
    ++i_;
    switch (c) {
      case 'b': out += '\b'; break;
      case 't': out += '\t'; break;
      case 'n': out += '\n'; break;
      case 'f': out += '\f'; break;
      case 'r': out += '\r'; break;
      case 'e': out += '\x1b'; break;
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case 'x': append_utf8(out, hex_escape(2)); break;
      case 'u': append_utf8(out, hex_escape(4)); break;
      case 'U': append_utf8(out, hex_escape(8)); break;
      default: fail(std::string("invalid escape '\\") + c + "'");
    }
  }

  std::string parse_basic_string() {
    ++i_;  // "
    std::string out;
    for (;;) {
      if (eof() || peek() == '\n') fail("unterminated string");
      char c = peek();
      if (c == '"') {
        ++i_;
        return out;
      }
      if (c == '\\') {
        ++i_;
        escape(out);
        continue;
      }
      out += c;
      ++i_;
    }
  }

  std::string parse_literal_string() {
    ++i_;  // '
    std::size_t b = i_;
    while (!eof() && peek() != '\'' && peek() != '\n') ++i_;
    if (peek() != '\'') fail("unterminated string");
    std::string out(s_.substr(b, i_ - b));
    ++i_;
    return out;
  }

  std::string parse_multiline(char quote) {
    i_ += 3;
    take_newline();  // a newline right after the opening quotes is trimmed
    std::string out;
    for (;;) {
      if (eof()) fail("unterminated multi-line string");
      char c = peek();
      if (c == quote) {
        std::size_t q = 0;
        while (peek(q) == quote) ++q;
        if (q >= 3) {
          if (q > 5) fail("too many quotes closing a multi-line string");
          out.append(q - 3, quote);
          i_ += q;
          return out;
        }
        out.append(q, quote);
        i_ += q;
        continue;
      }
      if (c == '\n' || (c == '\r' && peek(1) == '\n')) {
        take_newline();
        out += '\n';
        continue;
      }
      if (quote == '"' && c == '\\') {
        // A line-ending backslash eats the newline and the whitespace after it.
        std::size_t k = 1;
        while (peek(k) == ' ' || peek(k) == '\t') ++k;
        if (peek(k) == '\n' || (peek(k) == '\r' && peek(k + 1) == '\n')) {
          i_ += k;
          for (;;) {
            if (take_newline()) continue;
            if (peek() == ' ' || peek() == '\t') {
              ++i_;
              continue;
            }
            break;
          }
          continue;
        }
        ++i_;
        escape(out);
        continue;
      }
      out += c;
      ++i_;
    }
  }

  json::value parse_array() {
    ++i_;  // [
    json::array arr;
    for (;;) {
      skip_ws_nl();
      if (peek() == ']') {
        ++i_;
        return arr;
      }
      arr.push_back(parse_value());
      skip_ws_nl();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() == ']') {
        ++i_;
        return arr;
      }
      fail("expected ',' or ']' in an array");
    }
  }

  json::value parse_inline_table() {
    ++i_;  // {
    json::object obj;
    skip_ws_nl();
    if (peek() == '}') {
      ++i_;
      return obj;
    }
    for (;;) {
      skip_ws_nl();
      std::vector<std::string> key = parse_key();
      skip_ws();
      if (peek() != '=') fail("expected '=' in an inline table");
      ++i_;
      skip_ws();
      json::value v = parse_value();
      assign(obj, key, std::move(v));
      skip_ws_nl();
      if (peek() == ',') {
        ++i_;
        skip_ws_nl();
        if (peek() == '}') {  // TOML 1.1: a trailing comma
          ++i_;
          return obj;
        }
        continue;
      }
      if (peek() == '}') {
        ++i_;
        return obj;
      }
      fail("expected ',' or '}' in an inline table");
    }
  }

  json::value parse_scalar() {
    std::size_t b = i_;
    auto token_char = [](char c) {
      return c != '\0' && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != ',' && c != ']' && c != '}' &&
             c != '#';
    };
    while (token_char(peek())) ++i_;
    // "1979-05-27 07:32:00": a date, a space, a time.
    if (i_ - b == 10 && s_[b + 4] == '-' && peek() == ' ' && is_digit(peek(1)) && is_digit(peek(2)) &&
        peek(3) == ':') {
      ++i_;
      while (token_char(peek())) ++i_;
    }
    std::string tok(s_.substr(b, i_ - b));
    if (tok.empty()) {
      fail(eof() ? "expected a value" : std::string("unexpected '") + peek() + "' where a value belongs");
    }
    if (tok == "true") return true;
    if (tok == "false") return false;
    std::string body = tok;
    bool negative = false;
    if (body[0] == '+' || body[0] == '-') {
      negative = body[0] == '-';
      body.erase(0, 1);
    }
    if (body == "inf") return negative ? -HUGE_VAL : HUGE_VAL;
    if (body == "nan") return std::nan("");
    if (body.empty() || !is_digit(body[0])) fail("invalid value '" + tok + "'");
    std::string digits;
    for (char c : body) {
      if (c != '_') digits += c;
    }
    int base = 10;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'o' || digits[1] == 'b')) {
      base = digits[1] == 'x' ? 16 : digits[1] == 'o' ? 8 : 2;
      digits.erase(0, 2);
    }
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n, base);
    if (ec == std::errc() && end == digits.data() + digits.size()) return negative ? -n : n;
    if (base == 10 && digits.find_first_of(".eE") != std::string::npos &&
        digits.find_first_of("-:") == std::string::npos) {
      char* stop = nullptr;
      double d = std::strtod(digits.c_str(), &stop);
      if (stop == digits.c_str() + digits.size()) return negative ? -d : d;
    }
    // Dates and times: kept as written.
    if (!negative && tok.find_first_of("-:") != std::string::npos) return json::string(tok);
    fail("invalid value '" + tok + "'");
  }

  json::value parse_value() {
    char c = peek();
    if (c == '"') return starts("\"\"\"") ? json::value(parse_multiline('"')) : json::value(parse_basic_string());
    if (c == '\'') return starts("'''") ? json::value(parse_multiline('\'')) : json::value(parse_literal_string());
    if (c == '[') return parse_array();
    if (c == '{') return parse_inline_table();
    return parse_scalar();
  }
};

void write_canonical(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::null: out += "null"; break;
    case json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case json::kind::int64: out += std::to_string(v.get_int64()); break;
    case json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case json::kind::double_: out += json::serialize(v); break;
    case json::kind::string: {
      static constexpr char kHex[] = "0123456789abcdef";
      out += '"';
      for (unsigned char c : v.get_string()) {
        switch (c) {
          case '"': out += "\\\""; break;
          case '\\': out += "\\\\"; break;
          case '\b': out += "\\b"; break;
          case '\f': out += "\\f"; break;
          case '\n': out += "\\n"; break;
          case '\r': out += "\\r"; break;
          case '\t': out += "\\t"; break;
          default:
            if (c < 0x20) {
              out += "\\u00";
              out += kHex[c >> 4];
              out += kHex[c & 15];
            } else {
              out += static_cast<char>(c);
            }
        }
      }
      out += '"';
      break;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        write_canonical(e, out);
      }
      out += ']';
      break;
    }
    case json::kind::object: {
      const auto& o = v.get_object();
      std::vector<std::string_view> keys;
      for (const auto& kv : o) keys.emplace_back(kv.key());
      std::sort(keys.begin(), keys.end());
      out += '{';
      bool first = true;
      for (auto k : keys) {
        if (!first) out += ',';
        first = false;
        write_canonical(json::value(json::string(k)), out);
        out += ':';
        write_canonical(o.at(k), out);
      }
      out += '}';
      break;
    }
  }
}

const json::value* path_in(const json::object& root, std::initializer_list<std::string_view> keys) {
  const json::object* o = &root;
  const json::value* v = nullptr;
  for (auto k : keys) {
    if (!o) return nullptr;
    v = o->if_contains(k);
    if (!v) return nullptr;
    o = v->if_object();
  }
  return v;
}

// Node's path.resolve for POSIX paths: absolute, normalised, no trailing '/'.
std::string resolve_path(const std::string& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) abs = p;
  std::string s = abs.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// realpath when the path exists (Gemini's getRealPath), else as given.
std::string real_or_same(const std::string& p) {
  std::error_code ec;
  if (!fs::exists(p, ec)) return p;
  fs::path r = fs::canonical(p, ec);
  return ec ? p : r.string();
}

bool is_subpath(const std::string& parent, const std::string& child) {
  if (parent == "/") return !child.empty() && child[0] == '/';
  return child == parent || (child.size() > parent.size() && child.compare(0, parent.size(), parent) == 0 &&
                             child[parent.size()] == '/');
}

}  // namespace

json::object parse_toml(std::string_view text, std::string_view where) {
  return TomlParser(text, where).parse();
}

std::string canonical_json(const json::value& v) {
  std::string out;
  write_canonical(v, out);
  return out;
}

std::string snake_case(std::string_view event) {
  std::string out;
  for (std::size_t k = 0; k < event.size(); ++k) {
    char c = event[k];
    if (c >= 'A' && c <= 'Z') {
      if (k > 0) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

std::string codex_hook_key(std::string_view hooks_json, std::string_view event, std::size_t group,
                           std::size_t handler) {
  return std::string(hooks_json) + ":" + snake_case(event) + ":" + std::to_string(group) + ":" +
         std::to_string(handler);
}

std::string codex_hook_hash(std::string_view event, const json::object& group, const json::object& handler) {
  json::object h;
  const json::value* type = handler.if_contains("type");
  h["type"] = type && type->is_string() ? json::value(type->get_string()) : json::value("command");
  const json::value* command = handler.if_contains("command");
  h["command"] = command && command->is_string() ? json::value(command->get_string()) : json::value("");
  const json::value* timeout = handler.if_contains("timeout");
  h["timeout"] = timeout && (timeout->is_int64() || timeout->is_uint64()) ? *timeout : json::value(600);
  const json::value* async = handler.if_contains("async");
  h["async"] = async && async->is_bool() ? async->get_bool() : false;
  if (const json::value* status = handler.if_contains("statusMessage"); status && status->is_string()) {
    h["statusMessage"] = status->get_string();
  }
  json::object o;
  o["event_name"] = snake_case(event);
  o["hooks"] = json::array{h};
  if (const json::value* matcher = group.if_contains("matcher");
      matcher && matcher->is_string() && event != "UserPromptSubmit" && event != "Stop") {
    o["matcher"] = matcher->get_string();
  }
  return "sha256:" + crypto::sha256_hex(canonical_json(o));
}

CodexTrust codex_hook_trust(const json::object& user_config, const std::string& key,
                            const std::string& current_hash) {
  const json::value* state = path_in(user_config, {"hooks", "state", key});
  if (!state || !state->is_object()) return CodexTrust::Untrusted;
  const auto& s = state->get_object();
  if (const json::value* enabled = s.if_contains("enabled"); enabled && enabled->is_bool() && !enabled->get_bool()) {
    return CodexTrust::Disabled;
  }
  const json::value* hash = s.if_contains("trusted_hash");
  if (!hash || !hash->is_string()) return CodexTrust::Untrusted;
  return hash->get_string() == current_hash ? CodexTrust::Trusted : CodexTrust::Modified;
}

std::string codex_project_trust(const json::object& user_config, const std::string& dir) {
  const json::value* level = path_in(user_config, {"projects", dir, "trust_level"});
  return level && level->is_string() ? std::string(level->get_string()) : std::string();
}

GeminiTrust gemini_folder_trust(const GeminiTrustInput& in, const std::string& dir) {
  if (in.restricted_mode_env == "true") return {false, false, "GEMINI_RESTRICTED_MODE=true is set"};
  if (in.trust_workspace_env == "false") return {false, false, "GEMINI_CLI_TRUST_WORKSPACE=false is set"};
  if (in.trust_workspace_env == "true") return {true, false, "GEMINI_CLI_TRUST_WORKSPACE=true is set"};
  if (!in.folder_trust_enabled) return {true, false, "folder trust is off (security.folderTrust.enabled = false)"};
  if (!in.rules) return {false, false, "no folder has been trusted yet (no trustedFolders.json)"};
  for (const auto& kv : *in.rules) {
    const json::value& level = kv.value();
    bool ok = level.is_string() && (level.get_string() == "TRUST_FOLDER" || level.get_string() == "TRUST_PARENT" ||
                                     level.get_string() == "DO_NOT_TRUST");
    if (!ok) {
      return {false, true,
              "invalid trust level " + json::serialize(level) + " for \"" + std::string(kv.key()) +
                  "\" (TRUST_FOLDER, TRUST_PARENT or DO_NOT_TRUST); Gemini CLI refuses to start"};
    }
  }
  const std::string location = resolve_path(real_or_same(dir));
  std::size_t best_len = 0;
  bool matched = false;
  std::string best_rule;
  std::string best_level;
  for (const auto& kv : *in.rules) {
    const std::string rule = resolve_path(std::string(kv.key()));
    const std::string level(kv.value().get_string());
    std::string effective = rule;
    if (level == "TRUST_PARENT") effective = resolve_path(fs::path(rule).parent_path().string());
    effective = resolve_path(real_or_same(effective));
    if (!is_subpath(effective, location)) continue;
    if (!matched || rule.size() > best_len) {
      matched = true;
      best_len = rule.size();
      best_rule = rule;
      best_level = level;
    }
  }
  if (!matched) return {false, false, "no rule in trustedFolders.json covers it"};
  std::string why = "trustedFolders.json: \"" + best_rule + "\": " + best_level;
  return {best_level != "DO_NOT_TRUST", false, why};
}

std::vector<int> parse_version(std::string_view text) {
  for (std::size_t k = 0; k < text.size(); ++k) {
    if (!is_digit(text[k]) || (k > 0 && (is_digit(text[k - 1]) || text[k - 1] == '.'))) continue;
    std::vector<int> parts;
    std::size_t j = k;
    for (;;) {
      int n = 0;
      std::size_t start = j;
      while (j < text.size() && is_digit(text[j]) && j - start < 9) n = n * 10 + (text[j++] - '0');
      parts.push_back(n);
      if (j + 1 < text.size() && text[j] == '.' && is_digit(text[j + 1])) {
        ++j;
        continue;
      }
      break;
    }
    if (parts.size() >= 2) return parts;
  }
  return {};
}

bool version_less(const std::vector<int>& a, const std::vector<int>& b) {
  std::size_t n = std::max(a.size(), b.size());
  for (std::size_t k = 0; k < n; ++k) {
    int x = k < a.size() ? a[k] : 0;
    int y = k < b.size() ? b[k] : 0;
    if (x != y) return x < y;
  }
  return false;
}

}  // namespace keel::cli::doctor

// parse_toml: Codex's config.toml read as JSON for `keel doctor` (TOML 1.0
// plus 1.1's \e and \xHH escapes and inline-table trailing commas, as Codex
// accepts them). See doctor_checks.h.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <set>

#include "cli/doctor_checks.h"
#include "cli/settings_json.h"
#include "hooks/text.h"

namespace keel::cli::doctor {

namespace json = boost::json;

namespace {

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
      const int d = hooks::text::hexval(s_[i_ + k]);
      if (d < 0) fail("invalid escape");
      cp = (cp << 4) | static_cast<std::uint32_t>(d);
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
      case 'x': hooks::text::put_utf8(out, hex_escape(2)); break;
      case 'u': hooks::text::put_utf8(out, hex_escape(4)); break;
      case 'U': hooks::text::put_utf8(out, hex_escape(8)); break;
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

  // Consumes `c` when it is next.
  bool take(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }

  json::value parse_array() {
    ++i_;  // [
    json::array arr;
    for (;;) {
      skip_ws_nl();
      if (take(']')) return arr;
      arr.push_back(parse_value());
      skip_ws_nl();
      if (take(']')) return arr;
      if (!take(',')) fail("expected ',' or ']' in an array");
    }
  }

  json::value parse_inline_table() {
    ++i_;  // {
    json::object obj;
    skip_ws_nl();
    if (take('}')) return obj;
    for (;;) {
      skip_ws_nl();
      std::vector<std::string> key = parse_key();
      skip_ws();
      if (!take('=')) fail("expected '=' in an inline table");
      skip_ws();
      json::value v = parse_value();
      assign(obj, key, std::move(v));
      skip_ws_nl();
      if (take('}')) return obj;
      if (!take(',')) fail("expected ',' or '}' in an inline table");
      skip_ws_nl();
      if (take('}')) return obj;  // TOML 1.1: a trailing comma
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

}  // namespace

json::object parse_toml(std::string_view text, std::string_view where) {
  return TomlParser(text, where).parse();
}

}  // namespace keel::cli::doctor

// code_scan_literals.cpp — the code scanner's lexer: string literals of each language (with
// their escapes and interpolation), list literals, delimited literals (%x{}, qx(), ``), the
// extent of a call's arguments and home-directory expressions.
#include "hooks/code_scan_impl.h"
#include "hooks/text.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace keel::hooks::codescan {

using text::hexval;

// Reads a string literal at s[p]. Returns false if there is none. `dynamic` is set when the
// literal interpolates (f-strings, `${}`, "#{}", "$var") or is concatenated with something.
bool read_literal(std::string_view s, std::size_t& p, CodeLang lang, std::string& out,
                  bool& dynamic) {
  dynamic = false;
  out.clear();
  std::size_t q = p;
  bool fstring = false, raw = false;
  if (lang == CodeLang::Python) {
    while (q < s.size() && q - p < 2 && std::strchr("rRbBuUfF", s[q]) != nullptr && s[q] != 0) {
      if (s[q] == 'f' || s[q] == 'F') fstring = true;
      if (s[q] == 'r' || s[q] == 'R') raw = true;
      ++q;
    }
  }
  if (q >= s.size()) return false;
  char quote = s[q];
  if (quote != '\'' && quote != '"' && !(quote == '`' && lang == CodeLang::Node)) return false;
  bool triple = lang == CodeLang::Python && s.substr(q, 3) == std::string(3, quote);
  q += triple ? 3 : 1;
  bool interpolates = fstring || quote == '`' ||
                      (quote == '"' && (lang == CodeLang::Perl || lang == CodeLang::Ruby ||
                                        lang == CodeLang::Php));
  while (q < s.size()) {
    char c = s[q];
    if (triple ? s.substr(q, 3) == std::string(3, quote) : c == quote) {
      q += triple ? 3 : 1;
      p = q;
      // Concatenation / formatting right after the literal makes the value dynamic.
      std::size_t r = q;
      skip_ws(s, r);
      if (r < s.size() && (s[r] == '+' || s[r] == '%' || (s[r] == '.' && lang != CodeLang::Node) ||
                           (s[r] == '&' && lang == CodeLang::AppleScript)))
        dynamic = true;
      if (r + 1 < s.size() && s[r] == '.' && s.substr(r, 7) == ".format") dynamic = true;
      return true;
    }
    if (c == '\\' && !raw && q + 1 < s.size()) {
      char e = s[q + 1];
      q += 2;
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case '0': out += '\0'; break;
        case 'x':
          if (q + 1 < s.size() && hexval(s[q]) >= 0 && hexval(s[q + 1]) >= 0) {
            out += static_cast<char>(hexval(s[q]) * 16 + hexval(s[q + 1]));
            q += 2;
          } else {
            dynamic = true;
          }
          break;
        default: out += e; break;
      }
      continue;
    }
    if (interpolates) {
      if ((c == '{' && fstring) || (c == '$' && q + 1 < s.size() && s[q + 1] == '{') ||
          (c == '#' && q + 1 < s.size() && s[q + 1] == '{' && lang == CodeLang::Ruby) ||
          (c == '$' && q + 1 < s.size() && (lang == CodeLang::Perl || lang == CodeLang::Php) &&
           (std::isalpha(static_cast<unsigned char>(s[q + 1])) != 0 || s[q + 1] == '_')))
        dynamic = true;
    }
    out += c;
    ++q;
  }
  p = q;
  dynamic = true;  // unterminated
  return true;
}

// The items of a list literal, from just after its '[' up to (not past) the
// closing ']': literals as resolved words, anything else as unresolved text.
void read_literal_list(std::string_view s, std::size_t& r, CodeLang lang,
                       std::vector<std::pair<std::string, bool>>& argv) {
  while (r < s.size()) {
    skip_ws(s, r);
    if (r < s.size() && s[r] == ']') break;
    std::string item;
    bool dynamic = false;
    if (read_literal(s, r, lang, item, dynamic)) {
      argv.emplace_back(item, !dynamic);
    } else {
      std::size_t e = r;
      while (e < s.size() && s[e] != ',' && s[e] != ']') ++e;
      argv.emplace_back(std::string(s.substr(r, e - r)), false);
      r = e;
    }
    skip_ws(s, r);
    if (r < s.size() && s[r] == ',') ++r;
    else break;
  }
}

// Reads a delimited literal such as %x{...}, qx(...), `...`.
bool read_delimited(std::string_view s, std::size_t& p, char open, std::string& out,
                    bool& dynamic) {
  char close = open == '(' ? ')' : open == '{' ? '}' : open == '[' ? ']' : open == '<' ? '>' : open;
  out.clear();
  dynamic = false;
  int level = 1;
  std::size_t q = p;
  while (q < s.size()) {
    char c = s[q];
    if (c == '\\' && q + 1 < s.size()) {
      out += s[q + 1];
      q += 2;
      continue;
    }
    if (c == close && open != close) {
      if (--level == 0) break;
    } else if (c == open && open != close) {
      ++level;
    } else if (c == close) {
      break;
    }
    if (c == '$' || (c == '#' && q + 1 < s.size() && s[q + 1] == '{')) dynamic = true;
    out += c;
    ++q;
  }
  if (q >= s.size()) {
    p = q;
    dynamic = true;
    return true;
  }
  p = q + 1;
  return true;
}

// Position of the end of the call's argument list starting at '(' (or s.size()).
std::size_t call_end(std::string_view s, std::size_t open) {
  int level = 0;
  for (std::size_t q = open; q < s.size(); ++q) {
    if (s[q] == '(') ++level;
    if (s[q] == ')' && --level == 0) return q;
  }
  return s.size();
}

// Home-directory expressions used as deletion targets.
bool home_expr(std::string_view s, std::size_t p) {
  static constexpr std::string_view kHome[] = {
      "Path.home()", "os.path.expanduser(", "os.environ['HOME']", "os.environ[\"HOME\"]",
      "os.getenv('HOME')", "os.getenv(\"HOME\")", "process.env.HOME", "os.homedir()",
      "ENV['HOME']", "ENV[\"HOME\"]", "$ENV{HOME}", "Dir.home", "$HOME", "require('os').homedir()"};
  for (auto h : kHome)
    if (s.substr(p, h.size()) == h) return true;
  return false;
}

}  // namespace keel::hooks::codescan

// glob.cpp — see glob.h.
#include "hooks/glob.h"

#include <string>

namespace keel::hooks {
namespace {

// Matches one bracket class at p[0] == '['. Returns the length of the class or 0 if malformed.
std::size_t match_class(std::string_view p, char ch, bool& matched) {
  std::size_t k = 1;
  bool neg = false;
  if (k < p.size() && (p[k] == '!' || p[k] == '^')) {
    neg = true;
    ++k;
  }
  bool any = false;
  bool first = true;
  while (k < p.size() && (p[k] != ']' || first)) {
    first = false;
    char lo = p[k];
    if (lo == '\\' && k + 1 < p.size()) lo = p[++k];
    char hi = lo;
    if (k + 2 < p.size() && p[k + 1] == '-' && p[k + 2] != ']') {
      hi = p[k + 2];
      k += 2;
    }
    if (ch >= lo && ch <= hi) any = true;
    ++k;
  }
  if (k >= p.size()) return 0;
  matched = any != neg;
  return k + 1;
}

bool match_simple(std::string_view p, std::string_view t, bool path, int budget_depth);

bool match_braces(std::string_view p, std::string_view t, bool path, int depth) {
  // Expand the first {a,b,...} group.
  std::size_t open = std::string_view::npos;
  for (std::size_t k = 0; k < p.size(); ++k) {
    if (p[k] == '\\') {
      ++k;
      continue;
    }
    if (p[k] == '{') {
      open = k;
      break;
    }
  }
  if (open == std::string_view::npos || depth > 4) return match_simple(p, t, path, 0);
  std::size_t close = p.find('}', open);
  if (close == std::string_view::npos) return match_simple(p, t, path, 0);
  std::string_view inner = p.substr(open + 1, close - open - 1);
  std::size_t from = 0;
  while (true) {
    std::size_t comma = inner.find(',', from);
    std::string alt(p.substr(0, open));
    alt += inner.substr(from, comma == std::string_view::npos ? std::string_view::npos : comma - from);
    alt += p.substr(close + 1);
    if (match_braces(alt, t, path, depth + 1)) return true;
    if (comma == std::string_view::npos) break;
    from = comma + 1;
  }
  return false;
}

bool match_simple(std::string_view p, std::string_view t, bool path, int depth) {
  std::size_t pi = 0, ti = 0;
  std::size_t star_p = std::string_view::npos, star_t = 0;
  bool star_any = false;  // the last star was ** (crosses '/')
  while (ti < t.size()) {
    if (pi < p.size()) {
      char pc = p[pi];
      if (pc == '*') {
        bool dbl = pi + 1 < p.size() && p[pi + 1] == '*';
        if (dbl && path) {
          // "**" crosses directories; "**/" may also match nothing. Try every split point.
          std::size_t after = pi;
          while (after < p.size() && p[after] == '*') ++after;
          std::string_view rest = p.substr(after);
          if (depth > 8) return false;
          if (!rest.empty() && rest[0] == '/' && match_simple(rest.substr(1), t.substr(ti), path, depth + 1))
            return true;
          for (std::size_t k = ti; k <= t.size(); ++k)
            if (match_simple(rest, t.substr(k), path, depth + 1)) return true;
          return false;
        }
        while (pi < p.size() && p[pi] == '*') ++pi;
        star_p = pi;
        star_t = ti;
        star_any = !path;
        continue;
      }
      if (pc == '?' && (!path || t[ti] != '/')) {
        ++pi;
        ++ti;
        continue;
      }
      if (pc == '[') {
        bool m = false;
        std::size_t len = match_class(p.substr(pi), t[ti], m);
        if (len > 0) {
          if (m && (!path || t[ti] != '/')) {
            pi += len;
            ++ti;
            continue;
          }
        } else if (t[ti] == '[') {
          ++pi;
          ++ti;
          continue;
        }
      } else if (pc == '\\' && pi + 1 < p.size()) {
        if (p[pi + 1] == t[ti]) {
          pi += 2;
          ++ti;
          continue;
        }
      } else if (pc != '?' && pc == t[ti]) {
        ++pi;
        ++ti;
        continue;
      }
    }
    // Mismatch: backtrack to the last star.
    if (star_p == std::string_view::npos) return false;
    if (!star_any && t[star_t] == '/') return false;
    ++star_t;
    ti = star_t;
    pi = star_p;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text, bool path_mode) {
  if (pattern.find('{') != std::string_view::npos) return match_braces(pattern, text, path_mode, 0);
  return match_simple(pattern, text, path_mode, 0);
}

bool has_glob_chars(std::string_view s) noexcept {
  for (std::size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '\\') {
      ++k;
      continue;
    }
    if (s[k] == '*' || s[k] == '?' || s[k] == '[' || s[k] == '{') return true;
  }
  return false;
}

}  // namespace keel::hooks

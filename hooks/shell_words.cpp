// shell_words.cpp — pass 1, words: reading a word with its quoting (single, double, $'..'),
// brace expansion, and the clean-up of zero-width characters.
#include "hooks/shell_parser_impl.h"

#include <algorithm>
#include <cctype>

namespace keel::hooks {

namespace {

// Removes zero-width characters (U+200B-U+200D, U+2060, U+FEFF, U+00AD) and flags non-ASCII.
void finish_word(Word& w) {
  std::string& t = w.text;
  bool any_high = false;
  for (unsigned char ch : t)
    if (ch >= 0x80) {
      any_high = true;
      break;
    }
  if (!any_high) return;
  std::string out;
  out.reserve(t.size());
  for (std::size_t k = 0; k < t.size();) {
    std::string_view r(t.data() + k, t.size() - k);
    if (r.starts_with("\xE2\x80\x8B") || r.starts_with("\xE2\x80\x8C") ||
        r.starts_with("\xE2\x80\x8D") || r.starts_with("\xE2\x81\xA0") ||
        r.starts_with("\xEF\xBB\xBF")) {
      k += 3;
      continue;
    }
    if (r.starts_with("\xC2\xAD")) {
      k += 2;
      continue;
    }
    out += t[k++];
  }
  t = std::move(out);
  for (unsigned char ch : t)
    if (ch >= 0x80) w.non_ascii = true;
}

// Steps the quoting state `q` (the open quote, 0 outside quotes) over s[i]. True when s[i] is
// quoted text, a quote or a backslash, which the caller then skips; after a backslash i is moved
// onto the escaped character (inside "..." too when `dq_escapes`).
bool step_quoting(std::string_view s, std::size_t& i, char& q, bool dq_escapes) {
  const char ch = s[i];
  if (q) {
    if (dq_escapes && ch == '\\' && q == '"' && i + 1 < s.size()) ++i;
    else if (ch == q) q = 0;
    return true;
  }
  if (ch == '\\') {
    ++i;
    return true;
  }
  if (ch == '\'' || ch == '"') {
    q = ch;
    return true;
  }
  return false;
}

// Textual brace expansion ({a,b}, {1..3}, {a..c}) respecting quotes; bounded output.
void brace_expand(const std::string& s, std::vector<std::string>& out, std::size_t limit,
                  int level = 0) {
  if (out.size() >= limit || level > 8) {
    if (out.size() < limit) out.push_back(s);
    return;
  }
  // Find the first unquoted '{' with a matching '}' containing a top-level ',' or '..'.
  char q = 0;
  for (std::size_t a = 0; a < s.size(); ++a) {
    char ch = s[a];
    if (step_quoting(s, a, q, true)) continue;
    if (ch == '$' && a + 1 < s.size() && s[a + 1] == '{') {  // ${...} is not a brace list
      int d = 0;
      for (++a; a < s.size(); ++a) {
        if (s[a] == '{') ++d;
        if (s[a] == '}' && --d == 0) break;
      }
      continue;
    }
    if (ch != '{') continue;
    int d = 0;
    std::vector<std::size_t> commas;
    std::size_t close = std::string::npos;
    char q2 = 0;
    for (std::size_t b = a; b < s.size(); ++b) {
      char c2 = s[b];
      if (step_quoting(s, b, q2, false)) continue;
      if (c2 == '{') ++d;
      else if (c2 == '}') {
        if (--d == 0) {
          close = b;
          break;
        }
      } else if (c2 == ',' && d == 1) {
        commas.push_back(b);
      }
    }
    if (close == std::string::npos) return out.push_back(s);
    std::string pre = s.substr(0, a), post = s.substr(close + 1);
    std::string inner = s.substr(a + 1, close - a - 1);
    // Not a list: keep the braces literally and continue after them.
    auto keep_literal = [&] {
      std::vector<std::string> tails;
      brace_expand(post, tails, limit, level + 1);
      for (auto& t : tails) {
        if (out.size() >= limit) break;
        out.push_back(pre + "{" + inner + "}" + t);
      }
    };
    std::vector<std::string> alts;
    if (!commas.empty()) {
      std::size_t from = a + 1;
      for (std::size_t cpos : commas) {
        alts.push_back(s.substr(from, cpos - from));
        from = cpos + 1;
      }
      alts.push_back(s.substr(from, close - from));
    } else {
      std::size_t dd = inner.find("..");
      if (dd == std::string::npos) {
        keep_literal();
        return;
      }
      std::string lo = inner.substr(0, dd), hi = inner.substr(dd + 2);
      auto is_int = [](const std::string& x) {
        if (x.empty() || x.size() > 9) return false;
        std::size_t k = (x[0] == '-') ? 1 : 0;
        return k < x.size() && std::all_of(x.begin() + static_cast<long>(k), x.end(),
                                           [](char c3) { return std::isdigit(static_cast<unsigned char>(c3)) != 0; });
      };
      if (is_int(lo) && is_int(hi)) {
        long l = std::stol(lo), h = std::stol(hi);
        long step = l <= h ? 1 : -1;
        for (long v = l;; v += step) {
          alts.push_back(std::to_string(v));
          if (v == h || alts.size() >= limit) break;
        }
      } else if (lo.size() == 1 && hi.size() == 1 && std::isalpha(static_cast<unsigned char>(lo[0])) &&
                 std::isalpha(static_cast<unsigned char>(hi[0]))) {
        int step = lo[0] <= hi[0] ? 1 : -1;
        for (int v = lo[0];; v += step) {
          alts.push_back(std::string(1, static_cast<char>(v)));
          if (v == hi[0]) break;
        }
      } else {
        keep_literal();
        return;
      }
    }
    for (auto& alt : alts) {
      if (out.size() >= limit) break;
      brace_expand(pre + alt + post, out, limit, level + 1);
    }
    return;
  }
  out.push_back(s);
}


}  // namespace

namespace detail {

void Parser::read_dq(Word& w, bool terminated) {
  std::vector<Word> dummy;
  w.quoted = true;
  while (i_ < s_.size()) {
    char ch = s_[i_];
    if (terminated && ch == '"') {
      ++i_;
      return;
    }
    if (ch == '\\' && i_ + 1 < s_.size()) {
      char nx = s_[i_ + 1];
      if (nx == '\n') {
        i_ += 2;
        continue;
      }
      if (nx == '$' || nx == '`' || nx == '"' || nx == '\\') {
        w.text += nx;
        i_ += 2;
        continue;
      }
      w.text += ch;
      ++i_;
      continue;
    }
    if (ch == '$') {
      read_dollar(w, true, dummy);
      continue;
    }
    if (ch == '`') {
      read_backtick(w);
      continue;
    }
    w.text += ch;
    ++i_;
  }
  if (terminated) error("unterminated double quote");
}

bool Parser::read_words(std::vector<Word>& out, bool allow_brace) {
  std::size_t start = i_;
  std::vector<Word> pieces;
  Word w;
  bool started = false, brace = false;
  int bdepth = 0;
  while (i_ < s_.size()) {
    char ch = s_[i_];
    if (is_break(ch)) break;
    started = true;
    switch (ch) {
      case '\\':
        if (i_ + 1 < s_.size()) {
          if (s_[i_ + 1] == '\n') {
            i_ += 2;
            continue;
          }
          w.text += s_[i_ + 1];
          w.quoted = true;
          i_ += 2;
        } else {
          ++i_;
        }
        continue;
      case '\'': {
        ++i_;
        std::size_t e = s_.find('\'', i_);
        if (e == std::string_view::npos) {
          error("unterminated single quote");
          e = s_.size();
        }
        w.text.append(s_.substr(i_, e - i_));
        w.quoted = true;
        i_ = e == s_.size() ? e : e + 1;
        continue;
      }
      case '"':
        ++i_;
        read_dq(w, true);
        continue;
      case '$':
        read_dollar(w, false, pieces);
        continue;
      case '`':
        read_backtick(w);
        continue;
      case '*':
      case '?':
        w.glob = true;
        break;
      case '[': {
        std::size_t j = i_ + 1;
        while (j < s_.size() && !is_break(s_[j]) && s_[j] != ']') ++j;
        if (j < s_.size() && s_[j] == ']' && j > i_ + 1) w.glob = true;
        break;
      }
      case '{':
        ++bdepth;
        break;
      case '}':
        if (bdepth > 0) --bdepth;
        break;
      case ',':
        if (bdepth > 0) brace = true;
        break;
      case '.':
        if (bdepth > 0 && i_ + 1 < s_.size() && s_[i_ + 1] == '.') brace = true;
        break;
      default:
        break;
    }
    w.text += ch;
    ++i_;
  }
  if (!started) return false;
  if (brace && allow_brace && !c_.full()) {
    std::vector<std::string> variants;
    brace_expand(std::string(s_.substr(start, i_ - start)), variants, c_.lim.max_brace_words);
    if (variants.size() > 1) {
      for (auto& v : variants) {
        Parser sub(c_, c_.keep(std::move(v)), depth_, origin_, parent_);
        sub.read_words(out, false);
      }
      return true;
    }
  }
  if (!w.text.empty() || w.quoted || !w.resolved) pieces.push_back(std::move(w));
  for (Word& p : pieces) {
    finish_word(p);
    ++c_.words;
    out.push_back(std::move(p));
  }
  return true;
}

}  // namespace detail
}  // namespace keel::hooks

// shell_parser.cpp — pass 1 of the shell analyser: lexing and syntax (words, quoting, $'..',
// expansions, substitutions, lists, pipelines, groups, functions, case, heredocs), then the
// public entry point that runs pass 2 (shell_analysis.cpp) over every command found.
#include "hooks/shell_parser.h"

#include "hooks/shell_parser_impl.h"

#include <algorithm>
#include <cctype>

namespace keel::hooks {

using detail::Ctx;
using detail::Parser;

// ---------------------------------------------------------------------------------------------
// Small public helpers

bool Redirect::writes() const noexcept {
  if (op == ">" || op == ">>" || op == ">|" || op == "<>" || op == "&>" || op == "&>>") return true;
  if (op == ">&") {
    const std::string& t = target.text;
    bool fdlike = !t.empty() && std::all_of(t.begin(), t.end(), [](char ch) {
      return std::isdigit(static_cast<unsigned char>(ch)) != 0 || ch == '-';
    });
    return !fdlike;
  }
  return false;
}

std::string Command::line() const {
  std::string out;
  for (const Word& w : argv) {
    if (!out.empty()) out += ' ';
    out += w.text;
  }
  return out;
}

std::string_view to_string(Origin o) noexcept {
  switch (o) {
    case Origin::Top: return "top";
    case Origin::Subshell: return "subshell";
    case Origin::Group: return "group";
    case Origin::CommandSubst: return "command substitution";
    case Origin::ProcessSubst: return "process substitution";
    case Origin::ShellString: return "shell string";
    case Origin::Heredoc: return "heredoc";
    case Origin::HereString: return "here-string";
    case Origin::PipedText: return "piped text";
    case Origin::Eval: return "eval";
    case Origin::Alias: return "alias";
    case Origin::Function: return "function";
    case Origin::Remote: return "remote";
    case Origin::WrapperArgs: return "wrapper arguments";
    case Origin::Interpreter: return "interpreter code";
    case Origin::WrittenScript: return "written script";
  }
  return "top";
}

std::string_view to_string(FindingKind k) noexcept {
  switch (k) {
    case FindingKind::ParseError: return "parse-error";
    case FindingKind::TooDeep: return "too-deep";
    case FindingKind::TooLarge: return "too-large";
    case FindingKind::DynamicCode: return "dynamic-code";
    case FindingKind::StdinCode: return "stdin-code";
    case FindingKind::RemoteCode: return "remote-code";
    case FindingKind::EncodedCode: return "encoded-code";
    case FindingKind::DynamicShellout: return "dynamic-shellout";
    case FindingKind::ForkBomb: return "fork-bomb";
    case FindingKind::WriteThenRun: return "write-then-run";
  }
  return "parse-error";
}

namespace {

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void put_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x110000) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_break(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ';' || ch == '&' ||
         ch == '|' || ch == '<' || ch == '>' || ch == '(' || ch == ')';
}

bool is_name_start(char ch) {
  return std::isalpha(static_cast<unsigned char>(ch)) != 0 || ch == '_';
}
bool is_name_char(char ch) {
  return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_';
}

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
    if (q) {
      if (ch == '\\' && q == '"' && a + 1 < s.size()) ++a;
      else if (ch == q) q = 0;
      continue;
    }
    if (ch == '\\') {
      ++a;
      continue;
    }
    if (ch == '\'' || ch == '"') {
      q = ch;
      continue;
    }
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
      if (q2) {
        if (c2 == q2) q2 = 0;
        continue;
      }
      if (c2 == '\\') {
        ++b;
        continue;
      }
      if (c2 == '\'' || c2 == '"') {
        q2 = c2;
        continue;
      }
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
        // Not a list: keep the braces literally and continue after them.
        std::vector<std::string> tails;
        brace_expand(post, tails, limit, level + 1);
        for (auto& t : tails) {
          if (out.size() >= limit) break;
          out.push_back(pre + "{" + inner + "}" + t);
        }
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
        std::vector<std::string> tails;
        brace_expand(post, tails, limit, level + 1);
        for (auto& t : tails) {
          if (out.size() >= limit) break;
          out.push_back(pre + "{" + inner + "}" + t);
        }
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

std::string decode_ansi_c(std::string_view b) {
  std::string out;
  for (std::size_t k = 0; k < b.size(); ++k) {
    char ch = b[k];
    if (ch != '\\' || k + 1 >= b.size()) {
      out += ch;
      continue;
    }
    char e = b[++k];
    switch (e) {
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'e': case 'E': out += '\x1b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case '?': out += '?'; break;
      case 'x': {
        int v = 0, n = 0;
        while (n < 2 && k + 1 < b.size() && hexval(b[k + 1]) >= 0) v = v * 16 + hexval(b[++k]), ++n;
        if (n == 0) out += "\\x";
        else out += static_cast<char>(v);
        break;
      }
      case 'u': case 'U': {
        int maxn = e == 'u' ? 4 : 8, n = 0;
        unsigned long v = 0;
        while (n < maxn && k + 1 < b.size() && hexval(b[k + 1]) >= 0) v = v * 16 + static_cast<unsigned long>(hexval(b[++k])), ++n;
        if (n == 0) out += std::string("\\") + e;
        else put_utf8(out, v);
        break;
      }
      case 'c':
        if (k + 1 < b.size()) out += static_cast<char>(b[++k] & 0x1F);
        break;
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0', n = 1;
          while (n < 3 && k + 1 < b.size() && b[k + 1] >= '0' && b[k + 1] <= '7') v = v * 8 + (b[++k] - '0'), ++n;
          out += static_cast<char>(v & 0xFF);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

std::string shell_quote(std::string_view s) {
  if (!s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) != 0 ||
               std::string_view("_@%+=:,./-").find(ch) != std::string_view::npos;
      }))
    return std::string(s);
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'') out += "'\\''";
    else out += ch;
  }
  out += '\'';
  return out;
}

namespace detail {

void Ctx::find(FindingKind k, int cmd, std::string detail) {
  if (out.findings.size() < 128) out.findings.push_back({k, cmd, std::move(detail)});
}

bool Ctx::full() {
  if (stopped) return true;
  if (out.commands.size() >= lim.max_commands || words >= lim.max_words) {
    stopped = true;
    out.complete = false;
    find(FindingKind::TooLarge, -1, "command line too large to analyse completely");
  }
  return stopped;
}

std::string basename_of(std::string_view s) {
  while (s.size() > 1 && (s.back() == '/' || s.back() == '\\')) s.remove_suffix(1);
  std::size_t p = s.find_last_of("/\\");
  return std::string(p == std::string_view::npos ? s : s.substr(p + 1));
}

bool is_assignment_word(std::string_view raw) {
  if (raw.empty() || !is_name_start(raw[0])) return false;
  std::size_t k = 1;
  while (k < raw.size() && is_name_char(raw[k])) ++k;
  if (k < raw.size() && raw[k] == '[') {  // a[i]=v
    std::size_t e = raw.find(']', k);
    if (e == std::string_view::npos) return false;
    k = e + 1;
  }
  if (k < raw.size() && raw[k] == '+') ++k;
  return k < raw.size() && raw[k] == '=';
}

void count_assignments(Ctx& c, std::string_view t) {
  for (std::size_t p = 0; p < t.size(); ++p) {
    if (p > 0 && std::string_view(" \t\n;&|(){}'\"`").find(t[p - 1]) == std::string_view::npos) continue;
    if (!is_name_start(t[p])) continue;
    std::size_t e = p + 1;
    while (e < t.size() && is_name_char(t[e])) ++e;
    std::size_t k = e;
    if (k < t.size() && t[k] == '[') {
      std::size_t close = t.find(']', k);
      if (close == std::string_view::npos) continue;
      k = close + 1;
    }
    if (k < t.size() && t[k] == '+') ++k;
    if (k < t.size() && t[k] == '=') {
      std::string name(t.substr(p, e - p));
      if (name == "IFS") c.ifs_assigned = true;
      ++c.assign_count[name];
    }
    p = e - 1;
  }
}

std::size_t skip_balanced(std::string_view s, std::size_t i, int level) {
  while (i < s.size()) {
    char ch = s[i];
    if (ch == '\\') {
      i += 2;
      continue;
    }
    if (ch == '\'') {
      std::size_t e = s.find('\'', i + 1);
      i = e == std::string_view::npos ? s.size() : e + 1;
      continue;
    }
    if (ch == '"') {
      ++i;
      while (i < s.size() && s[i] != '"') i += (s[i] == '\\') ? 2 : 1;
      ++i;
      continue;
    }
    if (ch == '(') ++level;
    if (ch == ')' && --level == 0) return i + 1;
    ++i;
  }
  return s.size();
}

// ---------------------------------------------------------------------------------------------
// Parser

namespace {
struct RecGuard {
  int& r;
  explicit RecGuard(int& x) : r(x) { ++r; }
  ~RecGuard() { --r; }
};
constexpr int kMaxSyntaxRecursion = 48;
}  // namespace

void Parser::error(std::string msg) { c_.find(FindingKind::ParseError, -1, std::move(msg)); }

void Parser::skip_blanks() {
  while (i_ < s_.size()) {
    char ch = s_[i_];
    if (ch == ' ' || ch == '\t' || ch == '\r') {
      ++i_;
    } else if (ch == '\\' && i_ + 1 < s_.size() && s_[i_ + 1] == '\n') {
      i_ += 2;
    } else {
      break;
    }
  }
}

bool Parser::at_word(std::string_view w) const {
  return peek(w.size()) == w && (i_ + w.size() >= s_.size() || is_break(s_[i_ + w.size()]));
}

void Parser::parse_all() {
  parse_list(kTermNone);
  read_heredocs();
}

void Parser::scan_expansions() {
  // Bounded like parse_list: ${x:-${x:-...}} and $(( $(( ... )) )) nest through here.
  RecGuard g(c_.rec);
  if (c_.rec > kMaxSyntaxRecursion) {
    c_.find(FindingKind::TooDeep, -1, "expansions nested too deeply");
    return;
  }
  Word w;
  i_ = 0;
  read_dq(w, false);
}

void Parser::scan_arithmetic(std::size_t from, std::size_t to) {
  to = std::min(to, s_.size());
  if (from >= to || depth_ + 1 > c_.lim.max_depth) return;
  std::string_view inner = s_.substr(from, to - from);
  if (inner.find("$(") == std::string_view::npos && inner.find('`') == std::string_view::npos) return;
  Parser sub(c_, inner, depth_, Origin::CommandSubst, -1);
  sub.scan_expansions();
}

void Parser::parse_list(unsigned term) {
  RecGuard g(c_.rec);
  if (c_.rec > kMaxSyntaxRecursion) {
    c_.find(FindingKind::TooDeep, -1, "nesting too deep");
    i_ = (term & kTermParen) ? skip_balanced(s_, i_, 1) - 1 : s_.size();
    if (i_ > s_.size()) i_ = s_.size();
    return;
  }
  std::size_t last_begin = c_.out.commands.size();
  while (i_ < s_.size() && !c_.full()) {
    skip_blanks();
    if (i_ >= s_.size()) break;
    char ch = s_[i_];
    if (ch == '\n') {
      ++i_;
      read_heredocs();
      continue;
    }
    if (ch == '#') {
      while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      continue;
    }
    if (ch == ';') {
      if ((term & kTermCase) && i_ + 1 < s_.size() && (s_[i_ + 1] == ';' || s_[i_ + 1] == '&'))
        return;
      ++i_;
      continue;
    }
    if (ch == ')') {
      if (term & kTermParen) return;
      error("unexpected ')'");
      ++i_;
      continue;
    }
    if (ch == '&') {
      if (i_ + 1 < s_.size() && s_[i_ + 1] == '>') {
        // "&>file" with no command: a redirect-only command.
      } else {
        if (!(i_ + 1 < s_.size() && s_[i_ + 1] == '&')) {
          for (std::size_t k = last_begin; k < c_.out.commands.size(); ++k)
            if (c_.out.commands[k].depth == depth_) c_.out.commands[k].background = true;
          ++i_;
        } else {
          i_ += 2;
        }
        continue;
      }
    }
    if (ch == '|') {
      i_ += (i_ + 1 < s_.size() && s_[i_ + 1] == '|') ? 2 : 1;
      continue;
    }
    if ((term & kTermBrace) && at_word("}")) return;
    if ((term & kTermCase) && at_word("esac")) return;
    std::size_t before = i_;
    last_begin = c_.out.commands.size();
    parse_pipeline();
    if (i_ == before) ++i_;  // guarantee progress
  }
  if (term & kTermParen) error("missing ')'");
}

void Parser::parse_pipeline() {
  int id = c_.next_pipeline++;
  std::vector<std::pair<std::size_t, std::size_t>> elems;
  while (i_ < s_.size() && !c_.full()) {
    skip_blanks();
    if (i_ < s_.size() && s_[i_] == '!' && (i_ + 1 >= s_.size() || is_break(s_[i_ + 1]))) {
      ++i_;
      skip_blanks();
    }
    std::size_t first = c_.out.commands.size();
    std::size_t before = i_;
    parse_element();
    elems.emplace_back(first, c_.out.commands.size());
    skip_blanks();
    if (i_ < s_.size() && s_[i_] == '|' && !(i_ + 1 < s_.size() && s_[i_ + 1] == '|')) {
      ++i_;
      if (i_ < s_.size() && s_[i_] == '&') ++i_;
      while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
        ++i_;
      continue;
    }
    if (i_ == before) break;
    break;
  }
  int len = static_cast<int>(elems.size());
  for (int e = 0; e < len; ++e)
    for (std::size_t k = elems[e].first; k < elems[e].second; ++k) {
      Command& cmd = c_.out.commands[k];
      if (cmd.depth == depth_ && cmd.pipeline < 0) {
        cmd.pipeline = id;
        cmd.pipe_pos = e;
        cmd.pipe_len = len;
      }
    }
}

void Parser::parse_element() {
  skip_blanks();
  if (i_ >= s_.size()) return;
  if (s_[i_] == '(') {
    if (i_ + 1 < s_.size() && s_[i_ + 1] == '(') {  // (( arithmetic ))
      std::size_t from = i_ + 2;
      i_ = skip_balanced(s_, i_ + 2, 2);
      scan_arithmetic(from, i_);
      if (i_ >= s_.size() && (s_.empty() || s_.back() != ')')) error("unterminated (( ))");
      parse_trailing_redirects();
      return;
    }
    ++i_;
    Origin saved = origin_;
    origin_ = Origin::Subshell;
    parse_list(kTermParen);
    origin_ = saved;
    if (i_ < s_.size() && s_[i_] == ')') ++i_;
    parse_trailing_redirects();
    return;
  }
  parse_simple();
}

void Parser::parse_trailing_redirects() {
  Command cmd;
  std::vector<int> hd;
  while (i_ < s_.size()) {
    skip_blanks();
    if (!read_redirect(cmd.redirects, hd)) break;
  }
  if (!cmd.redirects.empty()) push(std::move(cmd), hd);
}

int Parser::push(Command cmd, const std::vector<int>& heredoc_redirs) {
  if (c_.full()) return -1;
  cmd.origin = cmd.origin == Origin::Top ? origin_ : cmd.origin;
  cmd.depth = depth_;
  cmd.parent = parent_;
  for (Word& w : cmd.argv) {
    if (w.subst_begin >= 0) {
      for (int k = w.subst_begin; k < w.subst_end && k < static_cast<int>(c_.out.commands.size()); ++k)
        if (c_.out.commands[k].parent < 0) c_.out.commands[k].parent = static_cast<int>(c_.out.commands.size());
    }
  }
  c_.out.commands.push_back(std::move(cmd));
  int idx = static_cast<int>(c_.out.commands.size()) - 1;
  for (int r : heredoc_redirs) pending_.emplace_back(idx, r);
  return idx;
}

bool Parser::read_redirect(std::vector<Redirect>& redirs, std::vector<int>& heredocs) {
  std::size_t save = i_;
  int fd = -1;
  if (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
    std::size_t k = i_;
    while (k < s_.size() && std::isdigit(static_cast<unsigned char>(s_[k])) && k - i_ < 4) ++k;
    if (k < s_.size() && (s_[k] == '<' || s_[k] == '>')) {
      fd = std::stoi(std::string(s_.substr(i_, k - i_)));
      i_ = k;
    }
  }
  if (i_ >= s_.size()) {
    i_ = save;
    return false;
  }
  std::string_view rest = s_.substr(i_);
  static constexpr std::string_view kOps[] = {"&>>", "<<<", "<<-", "&>", ">>", ">|", ">&", "<<",
                                              "<>",  "<&",  "<",   ">"};
  std::string_view op;
  for (auto o : kOps)
    if (rest.starts_with(o)) {
      op = o;
      break;
    }
  if (op.empty() || ((op == "<" || op == ">") && rest.size() > 1 && rest[1] == '(')) {
    i_ = save;
    return false;
  }
  i_ += op.size();
  skip_blanks();
  Redirect r;
  r.fd = fd;
  r.op = std::string(op);
  std::vector<Word> tw;
  if (i_ < s_.size() && (s_[i_] == '<' || s_[i_] == '>') && i_ + 1 < s_.size() && s_[i_ + 1] == '(') {
    // "< <(cmd)": redirect from a process substitution.
    std::size_t st = i_;
    i_ += 2;
    Word w;
    read_cmd_subst(w, st, true);
    tw.push_back(std::move(w));
  } else if (!read_words(tw, false)) {
    error("redirection without a target");
  }
  if (!tw.empty()) r.target = std::move(tw.front());
  redirs.push_back(std::move(r));
  if (op == "<<" || op == "<<-") heredocs.push_back(static_cast<int>(redirs.size()) - 1);
  if (op == "<<<") redirs.back().body = redirs.back().target.text + "\n";
  return true;
}

void Parser::read_heredocs() {
  auto pend = std::move(pending_);
  pending_.clear();
  for (auto [ci, ri] : pend) {
    if (ci < 0 || ci >= static_cast<int>(c_.out.commands.size())) continue;
    std::string delim = c_.out.commands[ci].redirects[ri].target.text;
    bool strip = c_.out.commands[ci].redirects[ri].op == "<<-";
    bool literal = c_.out.commands[ci].redirects[ri].target.quoted;
    std::string body;
    bool found = false;
    while (i_ < s_.size()) {
      std::size_t e = s_.find('\n', i_);
      std::string_view line = s_.substr(i_, e == std::string_view::npos ? s_.size() - i_ : e - i_);
      i_ = e == std::string_view::npos ? s_.size() : e + 1;
      std::string_view cmp = line;
      if (strip)
        while (!cmp.empty() && cmp.front() == '\t') cmp.remove_prefix(1);
      if (!cmp.empty() && cmp.back() == '\r') cmp.remove_suffix(1);
      if (cmp == delim) {
        found = true;
        break;
      }
      body.append(strip ? cmp : line);
      body += '\n';
    }
    if (!found && !delim.empty()) error("heredoc '" + delim + "' not terminated");
    if (!literal && (body.find("$(") != std::string::npos || body.find('`') != std::string::npos) &&
        depth_ + 1 <= c_.lim.max_depth) {
      Parser sub(c_, c_.keep(body), depth_, Origin::CommandSubst, ci);
      sub.scan_expansions();
    }
    c_.out.commands[ci].redirects[ri].body = std::move(body);
  }
}

void Parser::read_cmd_subst(Word& w, std::size_t start, bool proc) {
  // s_[i_] is the first character after "$(" / "<(" / ">(".
  int begin = static_cast<int>(c_.out.commands.size());
  if (depth_ + 1 > c_.lim.max_depth) {
    c_.find(FindingKind::TooDeep, -1, "substitution nested too deeply");
    i_ = skip_balanced(s_, i_, 1);
  } else {
    Parser sub(c_, s_, depth_ + 1, proc ? Origin::ProcessSubst : Origin::CommandSubst, -1);
    sub.set_pos(i_);
    sub.parse_list(kTermParen);
    sub.read_heredocs();
    i_ = sub.pos();
    if (i_ < s_.size() && s_[i_] == ')') ++i_;
    else error("unterminated substitution");
    if (proc && start < s_.size() && s_[start] == '>') {
      // >( cmd ): cmd reads what the outer command writes into the substitution.
      for (std::size_t k = static_cast<std::size_t>(begin); k < c_.out.commands.size(); ++k) {
        Command& inner = c_.out.commands[k];
        if (inner.depth == depth_ + 1 && inner.pipe_pos == 0) inner.reads_parent_output = true;
      }
    }
  }
  w.resolved = false;
  w.has_subst = true;
  if (proc) w.proc_subst = true;
  if (w.subst_begin < 0) {
    w.subst_begin = begin;
    std::size_t body_from = start + 2, body_to = i_ > body_from ? i_ - 1 : body_from;
    w.subst_source = std::string(s_.substr(body_from, body_to - body_from));
  }
  w.subst_end = static_cast<int>(c_.out.commands.size());
  w.text.append(s_.substr(start, i_ - start));
}

void Parser::read_backtick(Word& w) {
  std::size_t start = i_;
  std::size_t j = i_ + 1;
  std::string body;
  while (j < s_.size() && s_[j] != '`') {
    if (s_[j] == '\\' && j + 1 < s_.size() && (s_[j + 1] == '`' || s_[j + 1] == '\\' || s_[j + 1] == '$')) {
      body += s_[j + 1];
      j += 2;
    } else {
      body += s_[j++];
    }
  }
  if (j >= s_.size()) error("unterminated backquote");
  i_ = j < s_.size() ? j + 1 : s_.size();
  int begin = static_cast<int>(c_.out.commands.size());
  if (depth_ + 1 > c_.lim.max_depth) {
    c_.find(FindingKind::TooDeep, -1, "substitution nested too deeply");
  } else {
    Parser sub(c_, c_.keep(body), depth_ + 1, Origin::CommandSubst, -1);
    sub.parse_all();
  }
  w.resolved = false;
  w.has_subst = true;
  if (w.subst_begin < 0) {
    w.subst_begin = begin;
    w.subst_source = body;
  }
  w.subst_end = static_cast<int>(c_.out.commands.size());
  w.text.append(s_.substr(start, i_ - start));
}

namespace {
// Appends an unquoted expansion's value, splitting it into fields on blanks.
void split_append(Word& w, std::vector<Word>& pieces, std::string_view val) {
  for (char ch : val) {
    if (ch == ' ' || ch == '\t' || ch == '\n') {
      if (!w.text.empty() || w.quoted || !w.resolved) {
        pieces.push_back(std::move(w));
        w = Word{};
      }
      continue;
    }
    if (ch == '*' || ch == '?') w.glob = true;
    w.text += ch;
  }
}
}  // namespace

void Parser::expand_var(std::string_view name, std::string_view raw, Word& w, bool in_dq,
                        std::vector<Word>& pieces) {
  if (name == "IFS" && !c_.ifs_assigned) {
    if (in_dq) w.text += ' ';
    else split_append(w, pieces, " ");
    return;
  }
  if (c_.ifs_assigned && !in_dq) {
    // The line changes IFS, so how an unquoted expansion splits is not known.
    w.resolved = false;
    w.text.append(raw);
    return;
  }
  std::string val;
  bool known = false;
  if (name == "HOME") {
    val = "~";
    known = true;
  } else if (auto it = c_.vars.find(name); it != c_.vars.end()) {
    val = it->second;
    known = true;
  }
  if (!known) {
    w.resolved = false;
    w.text.append(raw);
    return;
  }
  if (in_dq) w.text += val;
  else split_append(w, pieces, val);
  // Its content is not known, so the word is not a known program (analyse keeps the name open).
  if (c_.temp_vars.contains(name)) w.temp_path = true;
}

void Parser::read_dollar(Word& w, bool in_dq, std::vector<Word>& pieces) {
  // s_[i_] == '$'
  if (i_ + 1 >= s_.size()) {
    w.text += '$';
    ++i_;
    return;
  }
  char nx = s_[i_ + 1];
  if (nx == '\'' && !in_dq) {
    i_ += 2;
    std::string body;
    while (i_ < s_.size() && s_[i_] != '\'') {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) {
        body += s_[i_];
        body += s_[i_ + 1];
        i_ += 2;
      } else {
        body += s_[i_++];
      }
    }
    if (i_ >= s_.size()) error("unterminated $'");
    else ++i_;
    w.text += decode_ansi_c(body);
    w.quoted = true;
    return;
  }
  if (nx == '"' && !in_dq) {
    i_ += 2;
    read_dq(w, true);
    return;
  }
  if (nx == '(') {
    std::size_t st = i_;
    if (i_ + 2 < s_.size() && s_[i_ + 2] == '(') {  // $(( arithmetic ))
      i_ = skip_balanced(s_, i_ + 3, 2);
      scan_arithmetic(st + 3, i_);
      w.resolved = false;
      w.text.append(s_.substr(st, i_ - st));
      return;
    }
    i_ += 2;
    read_cmd_subst(w, st, false);
    return;
  }
  if (nx == '{') {
    std::size_t st = i_;
    std::size_t j = i_ + 2;
    int d = 1;
    while (j < s_.size()) {
      char ch = s_[j];
      if (ch == '\\') {
        j += 2;
        continue;
      }
      if (ch == '\'' && !in_dq) {
        std::size_t e = s_.find('\'', j + 1);
        j = e == std::string_view::npos ? s_.size() : e + 1;
        continue;
      }
      if (ch == '{') ++d;
      if (ch == '}' && --d == 0) break;
      ++j;
    }
    if (j >= s_.size()) {
      error("unterminated ${");
      i_ = s_.size();
      w.resolved = false;
      w.text.append(s_.substr(st));
      return;
    }
    std::string_view inner = s_.substr(st + 2, j - st - 2);
    i_ = j + 1;
    std::string_view raw = s_.substr(st, i_ - st);
    bool plain = !inner.empty() && is_name_start(inner[0]) &&
                 std::all_of(inner.begin(), inner.end(), is_name_char);
    if (plain) {
      expand_var(inner, raw, w, in_dq, pieces);
    } else {
      w.resolved = false;
      w.text.append(raw);
      // ${x:-$(cmd)} and ${x:-`cmd`} run cmd.
      if ((inner.find("$(") != std::string_view::npos || inner.find('`') != std::string_view::npos) &&
          depth_ + 1 <= c_.lim.max_depth) {
        Parser sub(c_, c_.keep(std::string(inner)), depth_, Origin::CommandSubst, -1);
        sub.scan_expansions();
      }
    }
    return;
  }
  if (is_name_start(nx)) {
    std::size_t st = i_;
    std::size_t j = i_ + 1;
    while (j < s_.size() && is_name_char(s_[j])) ++j;
    i_ = j;
    expand_var(s_.substr(st + 1, j - st - 1), s_.substr(st, j - st), w, in_dq, pieces);
    return;
  }
  if (std::isdigit(static_cast<unsigned char>(nx)) || std::string_view("@*#?$!-").find(nx) != std::string_view::npos) {
    w.resolved = false;
    w.text.append(peek(2));
    i_ += 2;
    return;
  }
  w.text += '$';
  ++i_;
}

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

void Parser::parse_function_body(const std::string& name) {
  while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
    ++i_;
  std::size_t b = c_.out.commands.size();
  Origin saved = origin_;
  origin_ = Origin::Function;
  parse_element();
  origin_ = saved;
  std::size_t e = c_.out.commands.size();
  int self_calls = 0;
  bool spread = false;
  for (std::size_t k = b; k < e; ++k) {
    const Command& cmd = c_.out.commands[k];
    if (!cmd.argv.empty() && cmd.argv[0].text == name) {
      ++self_calls;
      if (cmd.pipe_len > 1 || cmd.background) spread = true;
    }
  }
  if (self_calls >= 2 || (self_calls >= 1 && spread))
    c_.find(FindingKind::ForkBomb, static_cast<int>(b), "function '" + name + "' replicates itself");
}

void Parser::parse_case() {
  // After "case": WORD in (pattern) list ;; ... esac
  std::vector<Word> tmp;
  skip_blanks();
  read_words(tmp);
  while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n')) ++i_;
  if (at_word("in")) i_ += 2;
  while (i_ < s_.size() && !c_.full()) {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == ';'))
      ++i_;
    if (i_ >= s_.size()) break;
    if (at_word("esac")) {
      i_ += 4;
      return;
    }
    if (s_[i_] == '(') ++i_;
    while (i_ < s_.size() && s_[i_] != ')') {
      if (s_[i_] == '\\') ++i_;
      else if (s_[i_] == '\'' || s_[i_] == '"') {
        std::size_t e = s_.find(s_[i_], i_ + 1);
        i_ = e == std::string_view::npos ? s_.size() : e;
      }
      if (i_ < s_.size()) ++i_;
    }
    if (i_ < s_.size()) ++i_;
    std::size_t before = i_;
    parse_list(kTermCase);
    if (peek(2) == ";;" || peek(2) == ";&") {
      i_ += 2;
      if (i_ < s_.size() && s_[i_] == '&') ++i_;
    } else if (i_ == before && i_ < s_.size() && !at_word("esac")) {
      ++i_;
    }
  }
  error("case without esac");
}

namespace {
// The value a variable gets from `NAME=$(mktemp ...)` when the whole word is that one
// substitution and mktemp's arguments are known: a representative path of the name mktemp
// creates ("/tmp/tmp.XXXXXXXXXX", "DIR/TEMPLATE", "./TEMPLATE"). mktemp makes a fresh, unique
// name, so removing or overwriting it later harms nothing; "$tmp/.." or "$tmp"/* still
// classify as what they are. Empty when the word is anything else.
std::string mktemp_value(const Ctx& c, const Word& val) {
  if (!val.has_subst || val.proc_subst || val.subst_end - val.subst_begin != 1) return {};
  if (val.text != "$(" + val.subst_source + ")" && val.text != "`" + val.subst_source + "`") return {};
  const Command& m = c.out.commands[static_cast<std::size_t>(val.subst_begin)];
  if (m.argv.empty() || !m.argv[0].resolved || m.argv[0].text != "mktemp" || !m.redirects.empty()) return {};
  std::string dir, templ;
  bool in_tmpdir = false, dd = false;
  for (std::size_t k = 1; k < m.argv.size(); ++k) {
    const Word& w = m.argv[k];
    if (!w.resolved || w.glob) return {};
    const std::string& t = w.text;
    if (!dd && t == "--") {
      dd = true;
    } else if (!dd && (t == "-p" || t == "--tmpdir")) {
      if (t == "-p" && k + 1 < m.argv.size()) {
        if (!m.argv[k + 1].resolved) return {};
        dir = m.argv[++k].text;
      }
      in_tmpdir = true;
    } else if (!dd && (t.starts_with("--tmpdir=") || (t.starts_with("-p") && t.size() > 2))) {
      dir = t.substr(t.starts_with("-p") ? 2 : 9);
      in_tmpdir = true;
    } else if (!dd && t.starts_with("--suffix=")) {
      // the suffix is part of the name; it never adds a directory
      if (t.find('/') != std::string::npos) return {};
    } else if (!dd && t.starts_with("-") && t.size() > 1) {
      for (std::size_t j = t[1] == '-' ? t.size() : 1; j < t.size(); ++j) {
        if (t[j] == 't') in_tmpdir = true;
        else if (t[j] != 'd' && t[j] != 'u' && t[j] != 'q') return {};
      }
      if (t[1] == '-' && t != "--directory" && t != "--dry-run" && t != "--quiet") return {};
    } else {
      if (!templ.empty()) return {};
      templ = t;
    }
  }
  if (templ.empty()) {
    templ = "tmp.XXXXXXXXXX";
    in_tmpdir = true;
  }
  if (templ.find('/') != std::string::npos) return in_tmpdir ? std::string() : templ;  // GNU: -t/-p need a bare name
  if (!in_tmpdir) return "./" + templ;
  if (dir.empty()) dir = "/tmp";  // $TMPDIR, else /tmp
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + "/" + templ;
}
}  // namespace

void Parser::parse_simple() {
  Command cmd;
  std::vector<int> hd;
  std::vector<std::string_view> raws;
  while (i_ < s_.size() && !c_.full()) {
    skip_blanks();
    if (i_ >= s_.size()) break;
    char ch = s_[i_];
    if (ch == '\n' || ch == ';' || ch == '|' || ch == ')') break;
    if (ch == '&' && !(i_ + 1 < s_.size() && s_[i_ + 1] == '>')) break;
    if (ch == '#' ) {  // a comment at a word boundary
      while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      break;
    }
    if (read_redirect(cmd.redirects, hd)) continue;
    if ((ch == '<' || ch == '>') && i_ + 1 < s_.size() && s_[i_ + 1] == '(') {
      std::size_t st = i_;
      i_ += 2;
      Word w;
      read_cmd_subst(w, st, true);
      cmd.argv.push_back(std::move(w));
      raws.push_back(s_.substr(st, i_ - st));
      continue;
    }
    if (ch == '(') {
      if (cmd.argv.size() == 1 && cmd.assignments.empty()) {
        // name() body — a function definition.
        std::size_t k = i_ + 1;
        while (k < s_.size() && (s_[k] == ' ' || s_[k] == '\t')) ++k;
        if (k < s_.size() && s_[k] == ')') {
          i_ = k + 1;
          std::string name = cmd.argv[0].text;
          parse_function_body(name);
          return;
        }
      }
      if (!cmd.assignments.empty() && cmd.argv.empty() && !raws.empty() && raws.back().ends_with("=")) {
        // NAME=( array ) — value unknown.
        i_ = skip_balanced(s_, i_ + 1, 1);
        cmd.assignments.back().second.resolved = false;
        continue;
      }
      error("unexpected '('");
      i_ = skip_balanced(s_, i_ + 1, 1);
      continue;
    }
    std::size_t st = i_;
    std::vector<Word> ws;
    if (!read_words(ws)) {
      ++i_;
      continue;
    }
    std::string_view raw = s_.substr(st, i_ - st);
    bool cmd_pos = cmd.argv.empty();
    if (cmd_pos && ws.size() == 1 && is_assignment_word(raw)) {
      std::string& t = ws[0].text;
      std::size_t eq = t.find('=');
      std::string name = eq == std::string::npos ? t : t.substr(0, eq);
      Word val = ws[0];
      val.text = eq == std::string::npos ? "" : t.substr(eq + 1);
      if (!name.empty() && name.back() == '+') {  // X+=v: the value depends on what X held
        name.pop_back();
        val.resolved = false;
      }
      cmd.assignments.emplace_back(name, std::move(val));
      raws.push_back(raw);
      continue;
    }
    if (cmd_pos && ws.size() == 1 && !ws[0].quoted && ws[0].resolved) {
      const std::string& kw = ws[0].text;
      if (kw == "{") {
        Origin saved = origin_;
        if (origin_ != Origin::Function) origin_ = Origin::Group;
        parse_list(kTermBrace);
        origin_ = saved;
        if (at_word("}")) ++i_;
        else error("missing '}'");
        parse_trailing_redirects();
        if (!cmd.assignments.empty() || !cmd.redirects.empty()) push(std::move(cmd), hd);
        return;
      }
      if (kw == "if" || kw == "then" || kw == "else" || kw == "elif" || kw == "fi" || kw == "do" ||
          kw == "done" || kw == "while" || kw == "until" || kw == "!" || kw == "esac" || kw == "}")
        continue;
      if (kw == "for" || kw == "select") {
        skip_blanks();
        if (peek(2) == "((") {
          std::size_t from = i_ + 2;
          i_ = skip_balanced(s_, i_ + 2, 2);
          scan_arithmetic(from, i_);
          return;
        }
        std::vector<Word> var;
        read_words(var, false);
        if (!var.empty()) c_.vars.erase(var[0].text);
        skip_blanks();
        if (at_word("in")) {
          i_ += 2;
          std::vector<Word> items;
          while (i_ < s_.size()) {
            skip_blanks();
            if (i_ >= s_.size() || s_[i_] == ';' || s_[i_] == '\n' || s_[i_] == '&' || s_[i_] == '|' || s_[i_] == ')')
              break;
            if (!read_words(items)) ++i_;
          }
        }
        return;
      }
      if (kw == "case") {
        parse_case();
        return;
      }
      if (kw == "function") {
        skip_blanks();
        std::vector<Word> nm;
        read_words(nm, false);
        skip_blanks();
        if (peek(2) == "()") i_ += 2;
        parse_function_body(nm.empty() ? std::string() : nm[0].text);
        return;
      }
      if (kw == "[[") {
        std::size_t e = i_;
        while (e < s_.size()) {
          std::size_t f = s_.find("]]", e);
          if (f == std::string_view::npos) {
            e = s_.size();
            break;
          }
          if (f + 2 >= s_.size() || is_break(s_[f + 2])) {
            e = f;
            break;
          }
          e = f + 2;
        }
        if (depth_ + 1 <= c_.lim.max_depth) {
          Parser sub(c_, s_.substr(i_, e - i_), depth_, Origin::CommandSubst, -1);
          sub.scan_expansions();
        }
        i_ = std::min(s_.size(), e + 2);
        continue;
      }
    }
    for (auto& w : ws) {
      cmd.argv.push_back(std::move(w));
      raws.push_back(raw);
    }
  }

  if (cmd.argv.empty() && cmd.assignments.empty() && cmd.redirects.empty()) return;

  // Inline alias expansion (alias ls='rm -rf'; ls /).
  if (!cmd.argv.empty() && !cmd.argv[0].quoted && cmd.argv[0].resolved) {
    auto it = c_.aliases.find(cmd.argv[0].text);
    if (it != c_.aliases.end()) {
      std::string text = it->second;
      std::size_t first_raw = cmd.assignments.size();
      for (std::size_t k = first_raw + 1; k < raws.size(); ++k) {
        if (k > first_raw + 1 && raws[k].data() == raws[k - 1].data()) continue;  // same source word
        text += ' ';
        text += raws[k];
      }
      std::string name = it->first, value = it->second;
      c_.aliases.erase(it);
      if (depth_ + 1 <= c_.lim.max_depth) {
        Parser sub(c_, c_.keep(std::move(text)), depth_ + 1, Origin::Alias, parent_);
        sub.parse_all();
      } else {
        c_.find(FindingKind::TooDeep, -1, "alias nested too deeply");
      }
      c_.aliases[name] = value;
      return;
    }
  }

  // Variable and alias bookkeeping (statically known values only).
  auto assign = [&](const std::string& name, const Word& val) {
    auto n = c_.assign_count.find(name);
    bool single = n == c_.assign_count.end() || n->second <= 1;
    std::string made;
    if (single && val.resolved && !val.glob) c_.vars[name] = val.text;
    else if (single && !(made = mktemp_value(c_, val)).empty()) c_.vars[name] = made;
    else c_.vars.erase(name);
    if (!made.empty()) c_.temp_vars.insert(name);
    else c_.temp_vars.erase(name);
  };
  if (cmd.argv.empty()) {
    for (auto& [name, val] : cmd.assignments) assign(name, val);
  } else if (cmd.argv[0].resolved) {
    const std::string& a0 = cmd.argv[0].text;
    if (a0 == "export" || a0 == "declare" || a0 == "local" || a0 == "readonly" || a0 == "typeset") {
      bool nameref = false;
      for (std::size_t k = 1; k < cmd.argv.size(); ++k) {
        const Word& w = cmd.argv[k];
        if (w.text.starts_with("-") && w.text.find('n') != std::string::npos) nameref = true;
        std::size_t eq = w.text.find('=');
        if (eq == std::string::npos || eq == 0) continue;
        std::string name = w.text.substr(0, eq);
        if (name.back() == '+') {
          name.pop_back();
          c_.vars.erase(name);
          continue;
        }
        Word val = w;
        val.text = w.text.substr(eq + 1);
        if (nameref) val.resolved = false;  // declare -n X=Y: X names another variable
        assign(name, val);
      }
    } else if (a0 == "printf" || a0 == "getopts" || a0 == "let") {
      // printf -v X, getopts optstring X, let X=...: assignments the bookkeeping cannot follow.
      for (std::size_t k = 1; k < cmd.argv.size(); ++k) {
        const std::string& t = cmd.argv[k].text;
        if (a0 == "printf" && t == "-v" && k + 1 < cmd.argv.size()) c_.vars.erase(cmd.argv[k + 1].text);
        else if (a0 == "printf" && t.starts_with("-v") && t.size() > 2) c_.vars.erase(t.substr(2));
        else if (a0 == "getopts" && k == 2) c_.vars.erase(t);
        else if (a0 == "let") c_.vars.erase(t.substr(0, t.find_first_of("+-*/%=")));
      }
    } else if (a0 == "eval" || a0 == "source" || a0 == ".") {
      // Code analysed only in pass 2 (or not at all) may set any variable.
      c_.vars.clear();
    } else if (a0 == "alias") {
      for (std::size_t k = 1; k < cmd.argv.size(); ++k) {
        const Word& w = cmd.argv[k];
        std::size_t eq = w.text.find('=');
        if (eq != std::string::npos && eq > 0 && w.resolved) c_.aliases[w.text.substr(0, eq)] = w.text.substr(eq + 1);
      }
    } else if (a0 == "unalias" || a0 == "unset") {
      for (std::size_t k = 1; k < cmd.argv.size(); ++k) {
        c_.aliases.erase(cmd.argv[k].text);
        if (a0 == "unset") c_.vars.erase(cmd.argv[k].text);
      }
    } else if (a0 == "read" || a0 == "mapfile" || a0 == "readarray") {
      for (std::size_t k = 1; k < cmd.argv.size(); ++k) c_.vars.erase(cmd.argv[k].text);
    }
  }
  push(std::move(cmd), hd);
}

}  // namespace detail

Script parse_shell(std::string_view text, const ParseLimits& limits) {
  Script out;
  if (text.size() > limits.max_input) {
    out.complete = false;
    out.findings.push_back({FindingKind::TooLarge, -1,
                            "command line is " + std::to_string(text.size()) + " bytes (limit " +
                                std::to_string(limits.max_input) + ")"});
    return out;
  }
  Ctx c(out, limits);
  c.top = text;
  detail::count_assignments(c, text);
  try {
    {
      Parser p(c, text, 0, Origin::Top, -1);
      p.parse_all();
    }
    // Pass 2 appends nested commands as it finds them; they are analysed in turn.
    for (std::size_t k = 0; k < out.commands.size(); ++k) detail::analyse(c, static_cast<int>(k));
  } catch (const std::exception& e) {
    // A cursor bug on malformed input (found by fuzzing) must not become a
    // crash or an "allow": the script is incomplete, so the gate asks.
    out.complete = false;
    out.findings.push_back({FindingKind::ParseError, -1, std::string("parser error: ") + e.what()});
  }
  return out;
}

}  // namespace keel::hooks

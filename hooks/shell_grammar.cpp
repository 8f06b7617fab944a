// shell_grammar.cpp — pass 1, command structure: lists, pipelines, subshells and groups,
// redirects and heredocs, function bodies and case.
#include "hooks/shell_parser_impl.h"

#include <algorithm>
#include <cctype>

namespace keel::hooks::detail {

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
  cmd.compound_redirects = true;
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

}  // namespace keel::hooks::detail

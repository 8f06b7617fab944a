// shell_expansion.cpp — pass 1, expansions inside a word: $NAME / ${..} with the statically
// known variables, $'..' (ANSI-C) decoding, and $( ), ` `, <( ) substitutions parsed as nested
// commands.
#include "hooks/shell_parser_impl.h"

#include <algorithm>
#include <cctype>

namespace keel::hooks {

using text::hexval;
using text::put_utf8;

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


namespace detail {

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


}  // namespace detail
}  // namespace keel::hooks

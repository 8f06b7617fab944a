// shell_simple_command.cpp — pass 1, one simple command: its assignments, words and redirects,
// and what it teaches the parse about later commands (variables, aliases, mktemp names).
#include "hooks/shell_parser_impl.h"

#include <algorithm>
#include <cctype>

namespace keel::hooks::detail {

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
          kw == "done" || kw == "while" || kw == "until" || kw == "!" || kw == "esac" || kw == "}") {
        // done > out: what follows a closing keyword redirects the loop or conditional.
        cmd.compound_redirects = kw == "done" || kw == "fi" || kw == "esac" || kw == "}";
        continue;
      }
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


}  // namespace keel::hooks::detail

// shell_parser.cpp — the shell analyser's entry point (parse_shell: pass 1, the syntax, then
// pass 2, shell_analysis.cpp, over every command found), the small public helpers, and what both
// passes share: the parse context, assignment counting and parenthesis matching. The syntax is in
// shell_grammar.cpp (lists, pipelines, compound commands), shell_simple_command.cpp,
// shell_words.cpp (words and quoting) and shell_expansion.cpp ($ expansions, substitutions).
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


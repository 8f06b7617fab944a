// code_scan.cpp — lexical scan of interpreter one-liners; see code_scan.h. The lexer is in
// code_scan_literals.cpp, the per-language call tables in code_scan_patterns.cpp.
#include "hooks/code_scan.h"

#include "hooks/code_scan_impl.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <span>

namespace keel::hooks {
namespace {

using namespace codescan;

void scan_impl(std::string_view code, CodeLang lang, std::size_t max_actions, int level,
               std::vector<CodeAction>& out);

// Perl open(FH, "|cmd") / open(FH, "cmd|") / open(FH, "-|", "cmd") / open(FH, "<", "file") and
// Ruby open("|cmd") / open("file"): the argument list is s[p, end).
void handle_pipe_open(std::string_view s, std::size_t p, std::size_t end, CodeLang lang,
                      std::vector<CodeAction>& out) {
  end = std::min(end, s.size());
  struct Arg {
    std::string text;
    bool literal;
  };
  std::vector<Arg> args;
  std::size_t q = p;
  while (q < end && args.size() < 4) {
    skip_ws(s, q);
    std::string lit;
    bool dyn = false;
    if (read_literal(s, q, lang, lit, dyn)) {
      args.push_back({lit, !dyn});
    } else {
      int level = 0;
      std::size_t from = q;
      while (q < end && !(level == 0 && s[q] == ',')) {
        if (s[q] == '(' || s[q] == '[' || s[q] == '{') ++level;
        if (s[q] == ')' || s[q] == ']' || s[q] == '}') --level;
        ++q;
      }
      args.push_back({std::string(s.substr(from, q - from)), false});
    }
    skip_ws(s, q);
    if (q < end && s[q] == ',') ++q;
    else break;
  }
  const std::size_t first = lang == CodeLang::Perl ? 1 : 0;  // Perl's first argument is the handle
  if (args.size() <= first) return;
  auto shell = [&](const Arg& a) {
    if (a.literal) out.push_back({CodeAction::Kind::Shell, a.text, {}, false, {}, false});
    else out.push_back({CodeAction::Kind::Dynamic, "open of a pipe to a command built at run time", {}, false, {}, false});
  };
  auto read = [&](std::string path) {
    while (!path.empty() && (path.front() == ' ' || path.front() == '<')) path.erase(0, 1);
    if (!path.empty()) out.push_back({CodeAction::Kind::Read, {}, {}, false, path, true});
  };
  const Arg& a = args[first];
  if (args.size() > first + 1 && a.literal) {  // three-argument form: open(FH, MODE, TARGET)
    if (a.text == "-|" || a.text == "|-") shell(args[first + 1]);
    else if (a.text.starts_with("<") && args[first + 1].literal) read(args[first + 1].text);
    return;
  }
  if (!a.literal) {
    out.push_back({CodeAction::Kind::Dynamic, "open of a name built at run time (a leading | runs it)", {}, false, {}, false});
    return;
  }
  std::string t = a.text;
  while (!t.empty() && t.front() == ' ') t.erase(0, 1);
  while (!t.empty() && t.back() == ' ') t.pop_back();
  if (t.starts_with("|")) shell({t.substr(1), true});
  else if (t.ends_with("|")) shell({t.substr(0, t.size() - 1), true});
  else if (!t.starts_with(">")) read(t);
}

void handle_call(std::string_view s, std::size_t p, const Pattern& pat, CodeLang lang,
                 std::size_t max_actions, int level, std::vector<CodeAction>& out) {
  skip_ws(s, p);
  bool paren = p < s.size() && s[p] == '(';
  std::size_t open = p;
  if (paren) ++p;
  skip_ws(s, p);
  if (pat.act == Pattern::Act::Shell && !paren && (lang == CodeLang::Python || lang == CodeLang::Node))
    return;  // a mention, not a call (e.g. `import subprocess`)
  std::string lit;
  bool dyn = false;
  if (pat.act == Pattern::Act::Delete || pat.act == Pattern::Act::DeleteRec ||
      pat.act == Pattern::Act::DeleteMaybeRec) {
    if (!paren && (lang == CodeLang::Python || lang == CodeLang::Node)) return;
    CodeAction a;
    a.kind = CodeAction::Kind::Delete;
    a.recursive = pat.act == Pattern::Act::DeleteRec;
    if (pat.act == Pattern::Act::DeleteMaybeRec) {
      std::size_t end = paren ? call_end(s, open) : s.size();
      a.recursive = s.substr(p, end - p).find("recursive") != std::string_view::npos;
    }
    std::size_t q = p;
    if (home_expr(s, q)) {
      a.target.assign(1, '~');
      a.target_resolved = true;
    } else if (read_literal(s, q, lang, lit, dyn)) {
      a.target = lit;
      a.target_resolved = !dyn;
    } else {
      std::size_t end = q;
      while (end < s.size() && s[end] != ')' && s[end] != ',' && s[end] != ';' && s[end] != '\n')
        ++end;
      a.target = std::string(s.substr(q, end - q));
      a.target_resolved = false;
    }
    out.push_back(std::move(a));
    return;
  }
  if (pat.act == Pattern::Act::Read) {
    if (!paren && lang != CodeLang::Ruby && lang != CodeLang::Perl) return;
    std::size_t q = p;
    if (read_literal(s, q, lang, lit, dyn) && !dyn) {
      CodeAction a;
      a.kind = CodeAction::Kind::Read;
      a.target = lit;
      a.target_resolved = true;
      out.push_back(std::move(a));
    }
    return;
  }
  if (pat.act == Pattern::Act::PipeOpen) {
    handle_pipe_open(s, p, paren ? call_end(s, open) : s.find_first_of(";\n", p), lang, out);
    return;
  }
  if (pat.act == Pattern::Act::PyCode) {
    if (!paren) return;
    std::size_t q = p;
    if (read_literal(s, q, lang, lit, dyn) && !dyn) {
      if (level < 3) scan_impl(lit, lang, max_actions, level + 1, out);
    } else {
      out.push_back({CodeAction::Kind::Dynamic, std::string(pat.text) + " of code built at run time", {}, false, {}, false});
    }
    return;
  }
  // Shell-out.
  std::size_t q = p;
  if (read_literal(s, q, lang, lit, dyn)) {
    // spawn("rm", ["-rf", "/"]) / execFile / Popen("x") → argv form when a list follows.
    std::size_t r = q;
    skip_ws(s, r);
    bool argv_form = pat.text.find("spawn") != std::string_view::npos ||
                     pat.text.find("execFile") != std::string_view::npos ||
                     pat.text.find("Command") != std::string_view::npos ||
                     (lang == CodeLang::Python &&
                      (pat.text.starts_with("os.exec") || pat.text.starts_with("os.spawn") ||
                       pat.text.starts_with("os.posix_spawn")));
    if (argv_form || (r < s.size() && s[r] == ',' && lang != CodeLang::Python &&
                      lang != CodeLang::Awk)) {
      CodeAction a;
      a.kind = CodeAction::Kind::Argv;
      a.argv.emplace_back(lit, !dyn);
      // Following literal arguments or a list of literals.
      while (r < s.size() && s[r] == ',') {
        ++r;
        skip_ws(s, r);
        if (r < s.size() && s[r] == '[') {
          ++r;
          read_literal_list(s, r, lang, a.argv);
          break;
        }
        std::string item;
        bool idyn = false;
        if (!read_literal(s, r, lang, item, idyn)) break;
        a.argv.emplace_back(item, !idyn);
        skip_ws(s, r);
      }
      // os.execv("/bin/sh", ["sh", "-c", "..."]) repeats the program as argv[0].
      if (lang == CodeLang::Python &&
          (pat.text.starts_with("os.exec") || pat.text.starts_with("os.spawn") ||
           pat.text.starts_with("os.posix_spawn")) &&
          a.argv.size() > 1)
        a.argv.erase(a.argv.begin());
      out.push_back(std::move(a));
      if (dyn) out.push_back({CodeAction::Kind::Dynamic, std::string(pat.text), {}, false, {}, false});
      return;
    }
    CodeAction a;
    a.kind = CodeAction::Kind::Shell;
    a.text = lit;
    out.push_back(std::move(a));
    if (dyn) out.push_back({CodeAction::Kind::Dynamic, std::string(pat.text), {}, false, {}, false});
    return;
  }
  if (q < s.size() && s[q] == '[') {
    // subprocess.run(["rm", "-rf", "/"])
    CodeAction a;
    a.kind = CodeAction::Kind::Argv;
    std::size_t r = q + 1;
    read_literal_list(s, r, lang, a.argv);
    if (!a.argv.empty()) {
      out.push_back(std::move(a));
      return;
    }
  }
  if (pat.act == Pattern::Act::Shell) {
    if (lang == CodeLang::Awk && !paren) return;
    out.push_back({CodeAction::Kind::Dynamic, std::string(pat.text), {}, false, {}, false});
  }
}

void scan_impl(std::string_view s, CodeLang lang, std::size_t max_actions, int level,
               std::vector<CodeAction>& out) {
  std::string unaliased;
  if (lang == CodeLang::Python) {
    unaliased = python_unalias(s);
    s = unaliased;
  }
  const std::span<const Pattern> pats = patterns_for(lang);
  // Node's `exec`/`spawn` are only shell-outs when child_process (or a runtime API) is in play;
  // /re/.exec(s) is common and harmless.
  bool node_proc = lang != CodeLang::Node ||
                   s.find("child_process") != std::string_view::npos ||
                   s.find("Bun.") != std::string_view::npos ||
                   s.find("Deno.") != std::string_view::npos;
  if (lang == CodeLang::Node) {
    // require('child_'+'process') hides the module: a module name that is not a literal may be
    // child_process, so exec/spawn count and the load itself is dynamic.
    for (std::string_view loader : {"require(", "import("}) {
      for (std::size_t at = 0; (at = s.find(loader, at)) != std::string_view::npos; at += loader.size()) {
        if (at > 0 && ident_char(s[at - 1])) continue;
        std::size_t q = at + loader.size();
        skip_ws(s, q);
        std::string lit;
        bool dyn = false;
        if (read_literal(s, q, lang, lit, dyn) && !dyn) continue;
        node_proc = true;
        out.push_back({CodeAction::Kind::Dynamic, "a module whose name is built at run time", {}, false, {}, false});
      }
    }
  }
  for (std::size_t p = 0; p < s.size() && out.size() < max_actions; ++p) {
    char c = s[p];
    // Backtick / %x / qx command literals.
    if ((lang == CodeLang::Perl || lang == CodeLang::Ruby || lang == CodeLang::Php) && c == '`') {
      std::size_t q = p + 1;
      std::string lit;
      bool dyn = false;
      read_delimited(s, q, '`', lit, dyn);
      out.push_back({CodeAction::Kind::Shell, lit, {}, false, {}, false});
      if (dyn) out.push_back({CodeAction::Kind::Dynamic, "`...`", {}, false, {}, false});
      p = q - 1;
      continue;
    }
    if ((lang == CodeLang::Perl && c == 'q' && p + 2 < s.size() && s[p + 1] == 'x' &&
         !ident_char(s[p + 2]) && (p == 0 || !ident_char(s[p - 1]))) ||
        (lang == CodeLang::Ruby && c == '%' && p + 2 < s.size() && s[p + 1] == 'x')) {
      std::size_t q = p + 3;
      std::string lit;
      bool dyn = false;
      read_delimited(s, q, s[p + 2], lit, dyn);
      out.push_back({CodeAction::Kind::Shell, lit, {}, false, {}, false});
      if (dyn) out.push_back({CodeAction::Kind::Dynamic, "qx", {}, false, {}, false});
      p = q - 1;
      continue;
    }
    if (lang == CodeLang::Awk && c == '|') {
      // print ... | "sh"   /   "cmd" | getline
      std::size_t q = p + 1;
      skip_ws(s, q);
      std::string lit;
      bool dyn = false;
      if (q < s.size() && s[q] == '"' && read_literal(s, q, lang, lit, dyn)) {
        out.push_back({CodeAction::Kind::Shell, lit, {}, false, {}, false});
        std::string_view l = lit;
        while (!l.empty() && l.front() == ' ') l.remove_prefix(1);
        if (l == "sh" || l == "bash" || l.starts_with("sh ") || l.starts_with("bash ") || dyn)
          out.push_back({CodeAction::Kind::Dynamic, "print | shell", {}, false, {}, false});
      }
      continue;
    }
    if (p > 0 && ident_char(s[p - 1])) continue;
    for (const Pattern& pat : pats) {
      if (s.substr(p, pat.text.size()) != pat.text) continue;
      std::size_t e = p + pat.text.size();
      if (e < s.size() && ident_char(s[e]) && pat.text.front() != '.') continue;
      if (pat.act == Pattern::Act::Shell && lang == CodeLang::Node && !node_proc) break;
      // os.system vs system: the qualified pattern was listed first; skip the bare one if the
      // name is qualified by something else (obj.system → ignore for Python).
      if (lang == CodeLang::Python && p > 0 && s[p - 1] == '.' && pat.text.find('.') == std::string_view::npos)
        break;
      handle_call(s, e, pat, lang, max_actions, level, out);
      p = e - 1;
      break;
    }
  }
  // Fork loops.
  bool has_fork = s.find("fork") != std::string_view::npos;
  if (has_fork && (s.find("while") != std::string_view::npos ||
                   s.find("for ") != std::string_view::npos ||
                   s.find("for(") != std::string_view::npos ||
                   s.find("loop") != std::string_view::npos ||
                   s.find("until") != std::string_view::npos))
    out.push_back({CodeAction::Kind::ForkLoop, "fork in a loop", {}, false, {}, false});
}

}  // namespace

std::vector<CodeAction> scan_code(std::string_view code, CodeLang lang, std::size_t max_actions) {
  std::vector<CodeAction> out;
  scan_impl(code, lang, max_actions, 0, out);
  if (out.size() > max_actions) out.resize(max_actions);
  return out;
}

}  // namespace keel::hooks

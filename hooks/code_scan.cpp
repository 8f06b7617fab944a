// code_scan.cpp — lexical scan of interpreter one-liners; see code_scan.h.
#include "hooks/code_scan.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <span>

namespace keel::hooks {
namespace {

bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$' || c == '@';
}

void skip_ws(std::string_view s, std::size_t& p) {
  while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) ++p;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

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

struct Pattern {
  std::string_view text;
  // PipeOpen: Perl/Ruby open(), which runs "|cmd" / "cmd|" / mode "-|" and otherwise reads.
  enum class Act { Shell, PyCode, Delete, DeleteRec, DeleteMaybeRec, Read, PipeOpen } act;
};

constexpr Pattern kPython[] = {
    {"os.system", Pattern::Act::Shell},       {"os.popen", Pattern::Act::Shell},
    {"subprocess.run", Pattern::Act::Shell},  {"subprocess.call", Pattern::Act::Shell},
    {"subprocess.check_call", Pattern::Act::Shell},
    {"subprocess.check_output", Pattern::Act::Shell},
    {"subprocess.Popen", Pattern::Act::Shell}, {"subprocess.getoutput", Pattern::Act::Shell},
    {"subprocess.getstatusoutput", Pattern::Act::Shell},
    {"commands.getoutput", Pattern::Act::Shell}, {"pty.spawn", Pattern::Act::Shell},
    {"os.execv", Pattern::Act::Shell},        {"os.execl", Pattern::Act::Shell},
    {"os.execvp", Pattern::Act::Shell},       {"os.execvpe", Pattern::Act::Shell},
    {"os.execve", Pattern::Act::Shell},       {"os.execle", Pattern::Act::Shell},
    {"os.execlp", Pattern::Act::Shell},       {"os.execlpe", Pattern::Act::Shell},
    {"os.spawnv", Pattern::Act::Shell},       {"os.spawnl", Pattern::Act::Shell},
    {"os.spawnvp", Pattern::Act::Shell},      {"os.spawnvpe", Pattern::Act::Shell},
    {"os.spawnve", Pattern::Act::Shell},      {"os.spawnlp", Pattern::Act::Shell},
    {"os.spawnlpe", Pattern::Act::Shell},     {"os.spawnle", Pattern::Act::Shell},
    {"os.posix_spawn", Pattern::Act::Shell},  {"os.posix_spawnp", Pattern::Act::Shell},
    {"check_output", Pattern::Act::Shell},    {"check_call", Pattern::Act::Shell},
    {"Popen", Pattern::Act::Shell},           {"getoutput", Pattern::Act::Shell},
    {"system", Pattern::Act::Shell},
    {"exec", Pattern::Act::PyCode},           {"eval", Pattern::Act::PyCode},
    {"shutil.rmtree", Pattern::Act::DeleteRec}, {"rmtree", Pattern::Act::DeleteRec},
    {"os.remove", Pattern::Act::Delete},      {"os.unlink", Pattern::Act::Delete},
    {"os.rmdir", Pattern::Act::Delete},       {"os.removedirs", Pattern::Act::Delete},
    {".unlink", Pattern::Act::Delete},
    {"open", Pattern::Act::Read},             {"Path", Pattern::Act::Read},
    {"pathlib.Path", Pattern::Act::Read},
};
constexpr Pattern kNode[] = {
    {"execSync", Pattern::Act::Shell},     {"execFileSync", Pattern::Act::Shell},
    {"execFile", Pattern::Act::Shell},     {"spawnSync", Pattern::Act::Shell},
    {"spawn", Pattern::Act::Shell},        {"exec", Pattern::Act::Shell},
    {"Bun.spawn", Pattern::Act::Shell},    {"Deno.run", Pattern::Act::Shell},
    {"Deno.Command", Pattern::Act::Shell},
    {"fs.rmSync", Pattern::Act::DeleteMaybeRec}, {"fs.rm", Pattern::Act::DeleteMaybeRec},
    {"fs.promises.rm", Pattern::Act::DeleteMaybeRec}, {"fsp.rm", Pattern::Act::DeleteMaybeRec},
    {"fs.rmdirSync", Pattern::Act::DeleteMaybeRec}, {"fs.rmdir", Pattern::Act::DeleteMaybeRec},
    {"fs.unlinkSync", Pattern::Act::Delete}, {"fs.unlink", Pattern::Act::Delete},
    {"rimraf", Pattern::Act::DeleteRec},   {"fse.remove", Pattern::Act::DeleteRec},
    {"fs.remove", Pattern::Act::DeleteRec}, {"fs.emptyDir", Pattern::Act::DeleteRec},
    {"Deno.remove", Pattern::Act::DeleteMaybeRec}, {"rmSync", Pattern::Act::DeleteMaybeRec},
    {"unlinkSync", Pattern::Act::Delete},  {"rmdirSync", Pattern::Act::DeleteMaybeRec},
    {"readFileSync", Pattern::Act::Read},  {"readFile", Pattern::Act::Read},
    {"createReadStream", Pattern::Act::Read},
};
constexpr Pattern kPerl[] = {
    {"system", Pattern::Act::Shell},     {"exec", Pattern::Act::Shell},
    {"rmtree", Pattern::Act::DeleteRec}, {"remove_tree", Pattern::Act::DeleteRec},
    {"unlink", Pattern::Act::Delete},    {"rmdir", Pattern::Act::Delete},
    {"open", Pattern::Act::PipeOpen},    {"readpipe", Pattern::Act::Shell},
};
constexpr Pattern kRuby[] = {
    {"Kernel.system", Pattern::Act::Shell},   {"system", Pattern::Act::Shell},
    {"exec", Pattern::Act::Shell},            {"IO.popen", Pattern::Act::Shell},
    {"Open3.capture2", Pattern::Act::Shell},  {"Open3.capture3", Pattern::Act::Shell},
    {"Open3.popen3", Pattern::Act::Shell},    {"spawn", Pattern::Act::Shell},
    {"FileUtils.rm_rf", Pattern::Act::DeleteRec}, {"FileUtils.rm_r", Pattern::Act::DeleteRec},
    {"FileUtils.remove_dir", Pattern::Act::DeleteRec},
    {"FileUtils.remove_entry", Pattern::Act::DeleteRec},
    {"FileUtils.rmtree", Pattern::Act::DeleteRec},
    {"FileUtils.rm_f", Pattern::Act::Delete}, {"FileUtils.rm", Pattern::Act::Delete},
    {"File.delete", Pattern::Act::Delete},    {"File.unlink", Pattern::Act::Delete},
    {"Dir.rmdir", Pattern::Act::Delete},
    {"Kernel.open", Pattern::Act::PipeOpen},  {"open", Pattern::Act::PipeOpen},
    {"File.read", Pattern::Act::Read},        {"File.readlines", Pattern::Act::Read},
    {"File.open", Pattern::Act::Read},        {"File.foreach", Pattern::Act::Read},
    {"IO.read", Pattern::Act::Read},          {"IO.readlines", Pattern::Act::Read},
};
constexpr Pattern kPhp[] = {
    {"shell_exec", Pattern::Act::Shell}, {"system", Pattern::Act::Shell},
    {"exec", Pattern::Act::Shell},       {"passthru", Pattern::Act::Shell},
    {"proc_open", Pattern::Act::Shell},  {"popen", Pattern::Act::Shell},
    {"unlink", Pattern::Act::Delete},    {"rmdir", Pattern::Act::Delete},
    {"file_get_contents", Pattern::Act::Read}, {"readfile", Pattern::Act::Read},
    {"fopen", Pattern::Act::Read},
};
constexpr Pattern kAwk[] = {
    {"system", Pattern::Act::Shell},
};
constexpr Pattern kLua[] = {
    {"os.execute", Pattern::Act::Shell}, {"io.popen", Pattern::Act::Shell},
    {"os.remove", Pattern::Act::Delete}, {"io.open", Pattern::Act::Read},
    {"io.lines", Pattern::Act::Read},
};
constexpr Pattern kR[] = {
    {"system", Pattern::Act::Shell},          {"system2", Pattern::Act::Shell},
    {"shell", Pattern::Act::Shell},           {"unlink", Pattern::Act::DeleteMaybeRec},
    {"file.remove", Pattern::Act::Delete},    {"readLines", Pattern::Act::Read},
};
constexpr Pattern kAppleScript[] = {
    {"do shell script", Pattern::Act::Shell}, {"doShellScript", Pattern::Act::Shell},
};

template <std::size_t N>
std::span<const Pattern> as_span(const Pattern (&a)[N]) {
  return {a, N};
}

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

// Python modules whose functions run commands, delete or read files.
bool py_module_of_interest(std::string_view m) {
  return m == "os" || m == "subprocess" || m == "shutil" || m == "pty" || m == "posix" || m == "commands";
}

// Rewrites Python code so that the patterns see through module aliases:
//   __import__('os') / importlib.import_module('os')  → os
//   import subprocess as sp; sp.run(...)               → subprocess.run(...)
//   from os import system as s; s(...)                 → os.system(...)
std::string python_unalias(std::string_view code) {
  std::string s(code);
  for (std::string_view m : {"os", "subprocess", "shutil", "pty", "posix"}) {
    for (std::string_view pre : {"__import__(", "importlib.import_module("}) {
      for (char q : {'\'', '"'}) {
        std::string call = std::string(pre) + q + std::string(m) + q + ")";
        for (std::size_t at; (at = s.find(call)) != std::string::npos;) s.replace(at, call.size(), m);
      }
    }
  }
  std::map<std::string, std::string> dotted;  // alias → module, used as alias.name
  std::map<std::string, std::string> bare;    // name → module.function, used as name(
  auto ident_at = [&](std::size_t& q) {
    skip_ws(s, q);
    std::size_t from = q;
    while (q < s.size() && (ident_char(s[q]) || s[q] == '.')) ++q;
    return s.substr(from, q - from);
  };
  // One pass over the statements ("import M as A, N" / "from M import a as b, (c, d)").
  for (std::size_t stmt = 0; stmt < s.size();) {
    std::size_t end = s.find_first_of(";\n", stmt);
    if (end == std::string::npos) end = s.size();
    std::size_t q = stmt;
    skip_ws(s, q);
    std::string from_mod;
    if (s.compare(q, 5, "from ") == 0 && q + 5 <= end) {
      q += 5;
      from_mod = ident_at(q);
      skip_ws(s, q);
    }
    if (s.compare(q, 7, "import ") == 0 && q + 7 <= end) {
      q += 7;
      skip_ws(s, q);
      if (q < end && s[q] == '(') ++q;
      while (q < end) {
        std::string name = ident_at(q);
        if (name.empty() || q > end) break;
        std::string alias = name;
        std::size_t r = q;
        skip_ws(s, r);
        if (s.compare(r, 3, "as ") == 0) {
          r += 3;
          alias = ident_at(r);
          q = r;
        }
        if (!from_mod.empty() && py_module_of_interest(from_mod)) bare[alias] = from_mod + "." + name;
        else if (from_mod.empty() && py_module_of_interest(name) && alias != name) dotted[alias] = name;
        skip_ws(s, q);
        if (q < end && s[q] == ',') ++q;
        else break;
      }
    }
    stmt = end + 1;
  }
  if (dotted.empty() && bare.empty()) return s;
  std::string out;
  out.reserve(s.size() + 64);
  for (std::size_t q = 0; q < s.size();) {
    if (!ident_char(s[q]) || (q > 0 && (ident_char(s[q - 1]) || s[q - 1] == '.'))) {
      out += s[q++];
      continue;
    }
    std::size_t e = q;
    while (e < s.size() && ident_char(s[e])) ++e;
    std::string word = s.substr(q, e - q);
    std::size_t r = e;
    skip_ws(s, r);
    if (auto d = dotted.find(word); d != dotted.end() && e < s.size() && s[e] == '.') out += d->second;
    else if (auto b = bare.find(word); b != bare.end() && r < s.size() && s[r] == '(') out += b->second;
    else out += word;
    q = e;
  }
  return out;
}

void scan_impl(std::string_view s, CodeLang lang, std::size_t max_actions, int level,
               std::vector<CodeAction>& out) {
  std::string unaliased;
  if (lang == CodeLang::Python) {
    unaliased = python_unalias(s);
    s = unaliased;
  }
  std::span<const Pattern> pats;
  switch (lang) {
    case CodeLang::Python: pats = as_span(kPython); break;
    case CodeLang::Node: pats = as_span(kNode); break;
    case CodeLang::Perl: pats = as_span(kPerl); break;
    case CodeLang::Ruby: pats = as_span(kRuby); break;
    case CodeLang::Php: pats = as_span(kPhp); break;
    case CodeLang::Awk: pats = as_span(kAwk); break;
    case CodeLang::Lua: pats = as_span(kLua); break;
    case CodeLang::R: pats = as_span(kR); break;
    case CodeLang::AppleScript: pats = as_span(kAppleScript); break;
  }
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

// code_scan_patterns.cpp — the calls the code scanner looks for, a table per language (what
// runs a command, deletes or reads a file), and Python's module aliases seen through.
#include "hooks/code_scan_impl.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>

namespace keel::hooks::codescan {

namespace {

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

}  // namespace

std::span<const Pattern> patterns_for(CodeLang lang) {
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
  return pats;
}

namespace {
// Python modules whose functions run commands, delete or read files.
bool py_module_of_interest(std::string_view m) {
  return m == "os" || m == "subprocess" || m == "shutil" || m == "pty" || m == "posix" || m == "commands";
}
}  // namespace

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

}  // namespace keel::hooks::codescan

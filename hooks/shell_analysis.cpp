// shell_analysis.cpp — pass 2 of the shell analyser: for each command found by pass 1, unwrap
// wrappers (sudo, env, timeout, xargs, ...), normalise git's global options, work out where its
// stdin comes from, recurse into code it runs (sh -c, eval, source, ssh, find -exec, python -c,
// node -e, heredocs, echo ... | sh), and remember files written earlier in the line so that
// write-then-run is seen.
//
// Each family has its own file: shell_unwrap.cpp, shell_tool_escapes.cpp (git, find -exec, tar,
// sed, database shells), shell_code_runners.cpp (shells, source, eval, interpreters); the helpers
// they share are in shell_analysis_common.cpp.
#include "hooks/shell_analysis_impl.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>

namespace keel::hooks::detail {

namespace {

void fill_subst_names(Ctx& c, int ci) {
  auto fill = [&](Word& w) {
    if (w.subst_begin < 0) return;
    w.subst_names.clear();
    for (int k = w.subst_begin; k < w.subst_end && k < static_cast<int>(c.out.commands.size()); ++k) {
      const Command& s = c.out.commands[static_cast<std::size_t>(k)];
      if (!s.name.empty()) w.subst_names.push_back(s.name);
      for (const Word& sw : s.argv)
        for (const auto& nn : sw.subst_names) w.subst_names.push_back(nn);
      for (const auto& u : s.upstream) w.subst_names.push_back(u);
    }
  };
  Command& cmd = cmd_at(c, ci);
  for (Word& w : cmd.argv) fill(w);
  for (Redirect& r : cmd.redirects) fill(r.target);
  for (auto& as : cmd.assignments) fill(as.second);
}

void compute_stdin(Ctx& c, int ci) {
  Command& cmd = cmd_at(c, ci);
  for (const Redirect& r : cmd.redirects) {
    if (r.fd > 0) continue;
    if (r.is_heredoc()) {
      cmd.stdin_kind = StdinKind::Heredoc;
      cmd.stdin_known = true;
      cmd.stdin_text = r.body;
    } else if (r.op == "<<<") {
      cmd.stdin_kind = StdinKind::HereString;
      cmd.stdin_known = r.target.resolved;
      cmd.stdin_text = r.body;
    } else if (r.op == "<" || r.op == "<>") {
      cmd.stdin_kind = StdinKind::File;
      cmd.stdin_known = false;
      cmd.stdin_text = r.target.text;
      if (r.target.proc_subst) {
        cmd.stdin_kind = StdinKind::Pipe;
        cmd.upstream = r.target.subst_names;
      }
    }
  }
  if (cmd.stdin_kind == StdinKind::Inherited && cmd.reads_parent_output && cmd.pipe_pos == 0) {
    cmd.stdin_kind = StdinKind::Pipe;  // >( cmd ): whatever the outer command writes
    return;
  }
  if (cmd.stdin_kind != StdinKind::Inherited || cmd.pipe_pos == 0 || cmd.pipeline < 0) return;
  cmd.stdin_kind = StdinKind::Pipe;
  int up = -1;
  std::vector<std::string> names;
  // Bounded look-back: the pipeline's own elements (and their substitutions) precede us.
  for (int k = ci - 1, seen = 0; k >= 0 && seen < 256 && names.size() < 48; --k, ++seen) {
    const Command& u = c.out.commands[static_cast<std::size_t>(k)];
    if (u.pipeline != cmd.pipeline || u.pipe_pos >= cmd.pipe_pos) continue;
    if (u.pipe_pos == cmd.pipe_pos - 1 && up < 0) up = k;
    if (!u.name.empty()) names.push_back(u.name);
    for (const auto& w : u.wrappers) names.push_back(w);
    for (const Word& w : u.argv)
      for (const auto& nn : w.subst_names) names.push_back(nn);
    for (const Redirect& r : u.redirects)
      for (const auto& nn : r.target.subst_names) names.push_back(nn);
    if (u.pipe_pos == 0) break;
  }
  Command& me = cmd_at(c, ci);
  me.upstream = std::move(names);
  if (up >= 0) {
    std::string text;
    const Command& u = c.out.commands[static_cast<std::size_t>(up)];
    if (u.pipe_pos == 0 && literal_output(u, text)) {
      me.stdin_known = true;
      me.stdin_text = std::move(text);
    }
  }
}


void track_files(Ctx& c, int ci) {
  const Command cmd = cmd_at(c, ci);
  std::string literal;
  bool known = literal_output(cmd, literal);
  for (const Redirect& r : cmd.redirects) {
    if (!r.writes() || !r.target.resolved || (r.fd > 1 && r.op != "&>" && r.op != "&>>")) continue;
    std::string key = norm_path(r.target.text);
    if (r.op == ">>" || r.op == "&>>") {
      auto& f = c.files[key];
      f.known = f.known && known;
      f.text += literal;
    } else {
      c.files[key] = {known, known ? literal : std::string()};
    }
  }
  const auto& a = cmd.argv;
  if (cmd.name == "tee") {
    for (std::size_t k = 1; k < a.size(); ++k)
      if (!a[k].text.starts_with("-") && a[k].resolved)
        c.files[norm_path(a[k].text)] = {cmd.stdin_known, cmd.stdin_known ? cmd.stdin_text : std::string()};
  } else if (cmd.name == "curl" || cmd.name == "wget") {
    std::string url;
    for (std::size_t k = 1; k < a.size(); ++k) {
      const std::string& t = a[k].text;
      if ((t == "-o" || t == "--output" || t == "-O" || t == "--output-document") && k + 1 < a.size() &&
          !(cmd.name == "curl" && t == "-O")) {
        c.files[norm_path(a[k + 1].text)] = {false, {}};
        ++k;
      } else if (t.starts_with("--output=") || t.starts_with("--output-document=")) {
        c.files[norm_path(t.substr(t.find('=') + 1))] = {false, {}};
      } else if (!t.starts_with("-")) {
        url = t;
      }
    }
    if (!url.empty()) {
      std::string base = basename_of(url.substr(0, url.find('?')));
      if (!base.empty()) c.files[base] = {false, {}};
    }
  } else if (one_of(cmd.name, {"cp", "mv", "install", "ln", "scp", "rsync"}) && a.size() > 2 && a.back().resolved) {
    c.files[norm_path(a.back().text)] = {false, {}};
  }
}

}  // namespace

bool run_written(Ctx& c, int ci, const std::string& path, const CodeLang* lang) {
  auto it = c.files.find(norm_path(path));
  if (it == c.files.end()) return false;
  if (!it->second.known) {
    c.find(FindingKind::WriteThenRun, ci, "runs " + path + ", which this command line writes with content not known in advance");
    return true;
  }
  std::string text = it->second.text;
  c.files.erase(it);  // no re-entry (a script that runs itself)
  if (lang) apply_code(c, ci, text, *lang);
  else sub_parse(c, text, ci, Origin::WrittenScript);
  return true;
}

void sub_parse(Ctx& c, std::string text, int parent, Origin origin) {
  if (c.full()) return;
  int d = cmd_at(c, parent).depth + 1;
  if (d > c.lim.max_depth) {
    c.find(FindingKind::TooDeep, parent, "nested shell code deeper than " + std::to_string(c.lim.max_depth) + " levels");
    return;
  }
  if (text.size() > c.lim.max_input) {
    c.find(FindingKind::TooLarge, parent, "nested shell code too large");
    return;
  }
  // Text decoded or joined here (ANSI-C strings, eval words) may assign variables that the
  // count over the whole line did not see; text found verbatim in the line was counted.
  if (c.top.find(text) == std::string_view::npos) count_assignments(c, text);
  Parser p(c, c.keep(std::move(text)), d, origin, parent);
  p.parse_all();
}

void analyse(Ctx& c, int ci) {
  fill_subst_names(c, ci);
  // Unwrap wrappers and resolve the command name.
  for (int guard = 0; guard < 24; ++guard) {
    Command& cmd = cmd_at(c, ci);
    if (cmd.argv.empty()) break;
    const Word& w0 = cmd.argv[0];
    if (!w0.resolved || w0.glob || w0.non_ascii || w0.temp_path || w0.text.empty()) {
      cmd.unresolved_name = true;
      break;
    }
    std::string nm = lower(basename_of(w0.text));
    std::size_t k = unwrap_one(c, ci, nm);
    Command& cm = cmd_at(c, ci);  // may have moved
    if (k == 0 || k >= cm.argv.size()) {
      cm.name = nm;
      break;
    }
    cm.wrappers.push_back(nm);
    cm.argv.erase(cm.argv.begin(), cm.argv.begin() + static_cast<long>(k));
  }
  {
    Command& cmd = cmd_at(c, ci);
    if (!cmd.argv.empty() && cmd.name.empty() && !cmd.unresolved_name) cmd.unresolved_name = true;
    if (cmd.unresolved_name) cmd.name.clear();
  }
  if (cmd_at(c, ci).name == "git") {
    normalise_git(c, ci);
    git_subcommand_code(c, ci);
  }
  compute_stdin(c, ci);

  const std::string nm = cmd_at(c, ci).name;
  if (!nm.empty()) {
    const std::string a0 = cmd_at(c, ci).argv[0].text;
    if (a0.find('/') != std::string::npos && run_written(c, ci, a0, nullptr)) {
      // handled
    } else if (is_shell(nm)) {
      handle_shell(c, ci);
    } else if (nm == "source" || nm == ".") {
      handle_source(c, ci);
    } else if (nm == "eval") {
      handle_eval(c, ci);
    } else if (is_python(nm)) {
      handle_interpreter(c, ci, CodeLang::Python);
    } else if (one_of(nm, {"node", "nodejs", "bun", "deno"})) {
      handle_interpreter(c, ci, CodeLang::Node);
    } else if (nm == "perl") {
      handle_interpreter(c, ci, CodeLang::Perl);
    } else if (nm == "ruby") {
      handle_interpreter(c, ci, CodeLang::Ruby);
    } else if (nm == "php") {
      handle_interpreter(c, ci, CodeLang::Php);
    } else if (one_of(nm, {"awk", "gawk", "mawk", "nawk"})) {
      handle_interpreter(c, ci, CodeLang::Awk);
    } else if (one_of(nm, {"lua", "luajit"}) || (nm.starts_with("lua5") && nm.size() <= 6)) {
      handle_interpreter(c, ci, CodeLang::Lua);
    } else if (nm == "rscript" || nm == "r") {
      handle_interpreter(c, ci, CodeLang::R);
    } else if (nm == "osascript") {
      handle_interpreter(c, ci, CodeLang::AppleScript);
    } else if (nm == "find") {
      handle_exec_options(c, ci, {"-exec", "-execdir", "-ok", "-okdir"}, {";", "+"}, "{}");
    } else if (nm == "fd" || nm == "fdfind") {
      handle_exec_options(c, ci, {"-x", "--exec", "-X", "--exec-batch"}, {";"}, "{");
    } else if (nm == "tar" || nm == "gtar" || nm == "bsdtar") {
      handle_tar(c, ci);
    } else if (nm == "sed" || nm == "gsed") {
      handle_sed(c, ci);
    } else if (nm == "psql" || nm == "sqlite3" || nm == "sqlite" || nm == "duckdb") {
      handle_db(c, ci);
    } else if (one_of(nm, {"pwsh", "powershell", "powershell.exe", "pwsh.exe"})) {
      const auto& a = cmd_at(c, ci).argv;
      for (std::size_t k = 1; k < a.size(); ++k) {
        std::string t = lower(a[k].text);
        if (t == "-e" || t == "-enc" || t == "-encodedcommand" || t == "-ec") {
          c.find(FindingKind::EncodedCode, ci, "PowerShell runs an encoded command");
          break;
        }
        if (t == "-c" || t == "-command" || t == "-file" || t == "-f") {
          c.find(FindingKind::DynamicCode, ci, "PowerShell code cannot be analysed");
          break;
        }
      }
    }
  }
  track_files(c, ci);
}

}  // namespace keel::hooks::detail

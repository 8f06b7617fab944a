// shell_tool_escapes.cpp — pass 2, tools that run commands of their own: git (aliases, -c
// core.sshCommand and the like, hooks), find -exec / fd -x, tar's --to-command and checkpoints,
// GNU sed's `e`, and database shells' \! escapes.
#include "hooks/shell_analysis_impl.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>

namespace keel::hooks::detail {

namespace {
// git configuration keys whose value is a command git runs (core.pager, diff.<x>.textconv ...).
bool git_command_key(std::string_view key) {
  if (one_of(key, {"core.pager", "core.editor", "sequence.editor", "core.sshcommand", "core.fsmonitor",
                   "core.askpass", "diff.external", "gpg.program", "credential.helper",
                   "uploadpack.packobjectshook", "interactive.difffilter"}))
    return true;
  if (key.starts_with("pager.")) return true;
  for (std::string_view suf : {".command", ".textconv", ".driver", ".clean", ".smudge", ".process", ".program",
                               ".uploadpack", ".receivepack", ".cmd"})
    if (key.ends_with(suf)) return true;
  return false;
}
}  // namespace

namespace {
bool git_false(std::string_view v) {
  std::string l = lower(v);
  return l == "false" || l == "no" || l == "off" || l == "0";
}
}  // namespace

// git's global options come before the subcommand: git -C dir -c k=v --no-pager push ...
// They are removed, so that argv[1] is the subcommand; on the way, configuration that runs
// commands (-c alias.x='!cmd', -c core.pager=cmd ...) is analysed as shell code, an alias
// without '!' is expanded in place of the subcommand, and -c clean.requireForce=false turns
// into the --force it implies, -c core.hooksPath=X into --no-verify.
void normalise_git(Ctx& c, int ci) {
  std::vector<Word>& a = cmd_at(c, ci).argv;
  std::size_t k = 1;
  std::vector<std::string> code;
  std::vector<std::pair<std::string, std::string>> aliases;  // name -> git arguments
  bool no_require_force = false;
  bool no_hooks = false;  // -c core.hooksPath=...: this command runs without the repository's hooks
  while (k < a.size()) {
    const std::string& t = a[k].text;
    if (!a[k].resolved || t.empty() || t[0] != '-') break;
    if (t == "-C" || t == "-c" || t == "--git-dir" || t == "--work-tree" || t == "--namespace" ||
        t == "--exec-path" || t == "--super-prefix" || t == "--config-env" || t == "--list-cmds") {
      if ((t == "-c" || t == "--config-env") && k + 1 < a.size()) {
        const std::string& kv = a[k + 1].text;
        std::size_t eq = kv.find('=');
        std::string key = lower(kv.substr(0, eq));
        std::string val = eq == std::string::npos ? std::string() : kv.substr(eq + 1);
        if (t == "--config-env" && git_command_key(key)) {
          c.find(FindingKind::DynamicCode, ci, "git --config-env sets " + key + ", a command, from the environment");
        } else if (!a[k + 1].resolved && (git_command_key(key) || key.starts_with("alias."))) {
          c.find(FindingKind::DynamicCode, ci, "git -c " + key + " is a command not known until run time");
        } else if (key.starts_with("alias.") && !val.empty()) {
          if (val[0] == '!') code.push_back(val.substr(1));
          else aliases.emplace_back(key.substr(6), val);
        } else if (git_command_key(key) && !val.empty() && !git_false(val) && lower(val) != "true") {
          code.push_back(val[0] == '!' ? val.substr(1) : val);
        } else if (key == "clean.requireforce" && git_false(val)) {
          no_require_force = true;
        } else if (key == "core.hookspath") {
          no_hooks = true;
        }
      }
      k += 2;
      continue;
    }
    ++k;  // --no-pager, -p, -P, --bare, --git-dir=..., --literal-pathspecs ...
  }
  if (k > 1) a.erase(a.begin() + 1, a.begin() + static_cast<long>(std::min(k, a.size())));
  if (a.size() > 1 && a[1].resolved) {
    for (const auto& [name, args] : aliases) {
      if (lower(a[1].text) != name) continue;
      std::vector<Word> words;
      for (std::size_t from = 0; from < args.size();) {
        std::size_t sp = args.find(' ', from);
        std::string w = args.substr(from, sp == std::string::npos ? std::string::npos : sp - from);
        if (!w.empty()) words.push_back(literal_word(w));
        if (sp == std::string::npos) break;
        from = sp + 1;
      }
      a.erase(a.begin() + 1);
      a.insert(a.begin() + 1, words.begin(), words.end());
      break;
    }
  }
  if (no_require_force && a.size() > 1 && a[1].text == "clean") a.insert(a.begin() + 2, literal_word("--force"));
  if (no_hooks && a.size() > 1) a.insert(a.begin() + 2, literal_word("--no-verify"));  // what it amounts to
  for (auto& text : code) sub_parse(c, text, ci, Origin::ShellString);
}

// git subcommands that run shell commands: rebase -x, submodule foreach, bisect run,
// difftool -x.
void git_subcommand_code(Ctx& c, int ci) {
  const std::vector<Word> a = cmd_at(c, ci).argv;  // copy: sub_parse may grow the list
  if (a.size() < 3 || !a[1].resolved) return;
  const std::string& sub = a[1].text;
  auto run = [&](const Word& w, const std::string& what) {
    if (w.resolved) sub_parse(c, w.text, ci, Origin::ShellString);
    else dynamic_finding(c, ci, w, what);
  };
  if (sub == "rebase" || sub == "difftool") {
    const std::string_view s_opt = "-x", l_opt = sub == "rebase" ? "--exec" : "--extcmd";
    for (std::size_t k = 2; k < a.size(); ++k) {
      const std::string& t = a[k].text;
      if ((t == s_opt || t == l_opt) && k + 1 < a.size()) {
        run(a[k + 1], "git " + sub + " " + t);
        ++k;
      } else if (t.starts_with(std::string(l_opt) + "=")) {
        Word w = a[k];
        w.text = t.substr(l_opt.size() + 1);
        run(w, "git " + sub + " " + std::string(l_opt));
      } else if (t.starts_with(s_opt) && t.size() > 2 && t[1] == 'x') {
        Word w = a[k];
        w.text = t.substr(2);
        run(w, "git " + sub + " -x");
      }
    }
  } else if (sub == "submodule" && a[2].text == "foreach") {
    std::size_t k = 3;
    while (k < a.size() && (a[k].text == "--recursive" || a[k].text == "-q" || a[k].text == "--quiet")) ++k;
    if (k < a.size()) sub_parse(c, join_raw(a, k), ci, Origin::ShellString);
  } else if (sub == "bisect" && a[2].text == "run" && a.size() > 3) {
    sub_parse(c, join_quoted(a, 3), ci, Origin::WrapperArgs);
  }
}

// find -exec CMD... ; and fd -x CMD...: the words after one of `opts`, up to a terminator, run
// as a command with the found paths appended (or put where operand_marker stands).
void handle_exec_options(Ctx& c, int ci, std::initializer_list<std::string_view> opts,
                         std::initializer_list<std::string_view> ends, std::string_view operand_marker) {
  const std::vector<Word> a = cmd_at(c, ci).argv;
  for (std::size_t k = 1; k < a.size(); ++k) {
    if (!one_of(a[k].text, opts)) continue;
    std::vector<Word> words;
    std::size_t j = k + 1;
    for (; j < a.size() && !one_of(a[j].text, ends); ++j) {
      Word w = a[j];
      if (w.text.find(operand_marker) != std::string::npos) w.resolved = false;
      words.push_back(std::move(w));
    }
    if (!words.empty()) push_synthetic(c, ci, std::move(words), Origin::WrapperArgs, true);
    k = j;
  }
}

// tar options that run commands: --checkpoint-action=exec=CMD, --to-command=CMD,
// -I/--use-compress-program=CMD, --rsh-command=CMD, --info-script/-F/--new-volume-script=CMD.
void handle_tar(Ctx& c, int ci) {
  const std::vector<Word> a = cmd_at(c, ci).argv;
  auto run = [&](const Word& from, std::string text) {
    if (from.resolved) sub_parse(c, std::move(text), ci, Origin::ShellString);
    else dynamic_finding(c, ci, from, "tar");
  };
  for (std::size_t k = 1; k < a.size(); ++k) {
    const std::string& t = a[k].text;
    for (std::string_view opt : {"--to-command", "--use-compress-program", "--rsh-command", "--info-script",
                                 "--new-volume-script"}) {
      if (t.starts_with(std::string(opt) + "=")) run(a[k], t.substr(opt.size() + 1));
      else if (t == opt && k + 1 < a.size()) run(a[k + 1], a[k + 1].text);
    }
    if ((t == "-I" || t == "-F") && k + 1 < a.size()) run(a[k + 1], a[k + 1].text);
    std::size_t exec = t.find("exec=");
    if (t.starts_with("--checkpoint-action") && exec != std::string::npos) run(a[k], t.substr(exec + 5));
    else if (t == "--checkpoint-action" && k + 1 < a.size() && a[k + 1].text.starts_with("exec="))
      run(a[k + 1], a[k + 1].text.substr(5));
  }
}

namespace {
// GNU sed's `e` command runs its argument (or the pattern space) as a shell command, and so
// does the `e` flag of `s///e`.
void sed_script_code(Ctx& c, int ci, const Word& script) {
  if (!script.resolved) return;
  const std::string& t = script.text;
  std::size_t p = 0;
  while (p < t.size()) {
    std::size_t end = t.find_first_of(";\n", p);
    if (end == std::string::npos) end = t.size();
    std::string_view cmd = std::string_view(t).substr(p, end - p);
    // Skip the address: line numbers, $, /regex/, ranges, ! and blanks.
    std::size_t q = 0;
    while (q < cmd.size()) {
      char ch = cmd[q];
      if (std::isdigit(static_cast<unsigned char>(ch)) || ch == '$' || ch == ',' || ch == '!' || ch == ' ' ||
          ch == '~' || ch == '+' || ch == '\t') {
        ++q;
      } else if (ch == '/') {
        std::size_t close = cmd.find('/', q + 1);
        q = close == std::string_view::npos ? cmd.size() : close + 1;
      } else {
        break;
      }
    }
    if (q < cmd.size() && cmd[q] == 'e' && (q + 1 == cmd.size() || cmd[q + 1] == ' ')) {
      std::string_view arg = cmd.substr(q + 1);
      while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
      if (arg.empty()) c.find(FindingKind::DynamicCode, ci, "sed e runs the pattern space as a shell command");
      else {
        // The command runs to the end of the line, ';' included.
        std::size_t line_end = t.find('\n', p + q);
        sub_parse(c, t.substr(p + q + 1, line_end == std::string::npos ? std::string::npos : line_end - p - q - 1), ci,
                  Origin::ShellString);
        end = line_end == std::string::npos ? t.size() : line_end;
      }
    } else if (q + 1 < cmd.size() && cmd[q] == 's') {
      // s<d>regex<d>replacement<d>flags
      char d = cmd[q + 1];
      std::size_t r = q + 2;
      int seen = 0;
      for (; r < cmd.size() && seen < 2; ++r) {
        if (cmd[r] == '\\') {
          ++r;
          continue;
        }
        if (cmd[r] == d) ++seen;
      }
      if (seen == 2) {
        std::size_t f = r;
        while (f < cmd.size() && std::isalnum(static_cast<unsigned char>(cmd[f]))) ++f;
        if (cmd.substr(r, f - r).find('e') != std::string_view::npos)
          c.find(FindingKind::DynamicCode, ci, "sed s///e runs the substitution result as a shell command");
      }
    }
    p = end + 1;
  }
}
}  // namespace

void handle_sed(Ctx& c, int ci) {
  const std::vector<Word> a = cmd_at(c, ci).argv;
  bool explicit_script = false;
  for (std::size_t k = 1; k < a.size(); ++k) {
    const std::string& t = a[k].text;
    if ((t == "-e" || t == "--expression") && k + 1 < a.size()) {
      sed_script_code(c, ci, a[++k]);
      explicit_script = true;
    } else if (t.starts_with("--expression=")) {
      Word w = a[k];
      w.text = t.substr(13);
      sed_script_code(c, ci, w);
      explicit_script = true;
    } else if (t == "-f" || t == "--file") {
      explicit_script = true;
      ++k;
    }
  }
  if (explicit_script) return;
  std::size_t k = skip_opts(a, 1, " -l --line-length -s ");
  if (k < a.size()) sed_script_code(c, ci, a[k]);
}

namespace {
// Database shells that run shell commands from their own input: psql's \! and sqlite3's
// .shell / .system.
void db_shell_escape(Ctx& c, int ci, std::string_view text, bool psql) {
  for (std::size_t p = 0; p < text.size();) {
    std::size_t hit = psql ? text.find("\\!", p) : text.find('.', p);
    if (hit == std::string_view::npos) return;
    std::size_t from = std::string_view::npos;
    if (psql) {
      from = hit + 2;
    } else if ((hit == 0 || text[hit - 1] == '\n' || text[hit - 1] == ' ' || text[hit - 1] == ';') &&
               (text.substr(hit, 7) == ".shell " || text.substr(hit, 8) == ".system ")) {
      from = hit + (text[hit + 2] == 'h' ? 7 : 8);
    }
    if (from == std::string_view::npos) {
      p = hit + 1;
      continue;
    }
    std::size_t end = text.find('\n', from);
    sub_parse(c, std::string(text.substr(from, end == std::string_view::npos ? std::string_view::npos : end - from)), ci,
              Origin::ShellString);
    if (end == std::string_view::npos) return;
    p = end + 1;
  }
}
}  // namespace

void handle_db(Ctx& c, int ci) {
  const std::vector<Word> a = cmd_at(c, ci).argv;
  const bool psql = cmd_at(c, ci).name == "psql";
  for (std::size_t k = 1; k < a.size(); ++k) {
    if (!a[k].resolved) continue;
    const std::string& t = a[k].text;
    if (psql && (t == "-c" || t == "--command") && k + 1 < a.size()) db_shell_escape(c, ci, a[++k].text, true);
    else if (psql && t.starts_with("--command=")) db_shell_escape(c, ci, std::string_view(t).substr(10), true);
    else if (!psql && (t == "-cmd" || (k > 1 && !t.starts_with("-")))) {
      if (t == "-cmd" && k + 1 < a.size()) ++k;
      db_shell_escape(c, ci, a[k].text, false);
    }
  }
  const Command& cmd = cmd_at(c, ci);
  if (cmd.stdin_known && cmd.stdin_kind != StdinKind::Inherited) {
    const std::string text = cmd.stdin_text;
    db_shell_escape(c, ci, text, psql);
  }
}

}  // namespace keel::hooks::detail

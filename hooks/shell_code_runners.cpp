// shell_code_runners.cpp — pass 2, programs that run code given to them: shells (sh -c, a script
// on stdin), source, eval, and interpreters (python -c, node -e, perl -e, ...), whose code is
// parsed or scanned in turn.
#include "hooks/shell_analysis_impl.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>

namespace keel::hooks::detail {

void handle_shell(Ctx& c, int ci) {
  const std::vector<Word> a = cmd_at(c, ci).argv;
  const std::string nm = cmd_at(c, ci).name;
  std::size_t k = 1;
  bool cflag = false, sflag = false, dash = false;
  while (k < a.size()) {
    const std::string& t = a[k].text;
    if (!a[k].resolved) break;
    if (t == "--" || t == "-") {
      dash = t == "-";
      ++k;
      break;
    }
    if (t.starts_with("--")) {
      k += (t == "--rcfile" || t == "--init-file") ? 2 : 1;
      continue;
    }
    if (t.size() > 1 && (t[0] == '-' || t[0] == '+')) {
      bool extra = false;
      for (std::size_t j = 1; j < t.size(); ++j) {
        if (t[j] == 'c') cflag = true;
        if (t[j] == 's') sflag = true;
        if (t[j] == 'o' || t[j] == 'O') extra = true;
      }
      k += extra ? 2 : 1;
      continue;
    }
    break;
  }
  if (cflag) {
    if (k >= a.size()) return;
    if (a[k].resolved) sub_parse(c, a[k].text, ci, Origin::ShellString);
    else dynamic_finding(c, ci, a[k], nm + " -c");
    return;
  }
  if (k < a.size() && !sflag && !dash) {
    const Word& op = a[k];
    if (op.proc_subst || (!op.resolved && op.has_subst)) {
      dynamic_finding(c, ci, op, nm);
      return;
    }
    if (is_stdin_path(op)) {
      // falls through to stdin handling
    } else if (is_fd_path(op)) {
      c.find(FindingKind::StdinCode, ci, nm + " runs code read from the file descriptor " + op.text);
      return;
    } else {
      if (op.resolved) run_written(c, ci, op.text, nullptr);
      return;
    }
  }
  std::string text;
  Origin origin = Origin::PipedText;
  if (stdin_code(c, ci, text, origin, nm) == Stdin::Text) sub_parse(c, text, ci, origin);
}

void handle_source(Ctx& c, int ci) {
  const std::vector<Word> a = cmd_at(c, ci).argv;
  if (a.size() < 2) return;
  const Word& op = a[1];
  if (op.proc_subst || (op.has_subst && !op.resolved)) {
    if (init_idiom(op.subst_source)) {
      bool fetch = false;
      for (const auto& nn : op.subst_names) fetch = fetch || is_fetcher(nn);
      if (!fetch) return;
    }
    dynamic_finding(c, ci, op, cmd_at(c, ci).name);
    return;
  }
  if (op.resolved) {
    if (op.text == "/dev/stdin" || op.text == "-") {
      std::string text;
      Origin origin = Origin::PipedText;
      if (stdin_code(c, ci, text, origin, "source") == Stdin::Text) sub_parse(c, text, ci, origin);
      return;
    }
    run_written(c, ci, op.text, nullptr);
  }
}

void handle_eval(Ctx& c, int ci) {
  const std::vector<Word> a = cmd_at(c, ci).argv;
  if (a.size() < 2) return;
  bool all = true;
  for (std::size_t k = 1; k < a.size(); ++k) all = all && a[k].resolved;
  if (all) {
    sub_parse(c, join_raw(a, 1), ci, Origin::Eval);
    return;
  }
  if (a.size() == 2 && a[1].has_subst && init_idiom(a[1].subst_source)) {
    bool fetch = false;
    for (const auto& nn : a[1].subst_names) fetch = fetch || is_fetcher(nn);
    if (!fetch) return;
  }
  for (std::size_t k = 1; k < a.size(); ++k)
    if (!a[k].resolved) {
      dynamic_finding(c, ci, a[k], "eval");
      return;
    }
}

void handle_interpreter(Ctx& c, int ci, CodeLang lang) {
  const std::vector<Word> a = cmd_at(c, ci).argv;
  const std::string nm = cmd_at(c, ci).name;
  std::vector<const Word*> code;
  std::vector<std::string> attached;  // code given inside a bundled option
  bool module = false, stdin_dash = false, from_file = false;
  std::size_t script = 0;
  std::size_t k = 1;
  auto take_next = [&](std::size_t& idx) {
    if (idx + 1 < a.size()) code.push_back(&a[idx + 1]);
    idx += 2;
  };
  if (lang == CodeLang::Node && (nm == "deno" || nm == "bun")) {
    if (a.size() > 1 && a[1].text == "eval") {
      for (std::size_t j = 2; j < a.size(); ++j)
        if (!a[j].text.starts_with("-")) {
          code.push_back(&a[j]);
          break;
        }
      k = a.size();
    } else if (a.size() > 1 && !a[1].text.starts_with("-")) {
      return;  // deno run x.ts / bun run script / bun test ...
    }
  }
  while (k < a.size()) {
    const std::string& t = a[k].text;
    if (!a[k].resolved) {
      script = k;
      break;
    }
    if (t == "-") {
      stdin_dash = true;
      break;
    }
    if (t == "--") {
      if (k + 1 < a.size() && lang != CodeLang::Awk) script = k + 1;
      else if (k + 1 < a.size() && code.empty() && !from_file) code.push_back(&a[k + 1]);
      break;
    }
    if (t.size() < 2 || t[0] != '-') {
      if (lang == CodeLang::Awk) {
        if (code.empty() && attached.empty() && !from_file) code.push_back(&a[k]);
        break;
      }
      if (code.empty() && attached.empty()) script = k;
      break;
    }
    if (lang == CodeLang::Python) {
      if (t.starts_with("--")) {
        ++k;
        continue;
      }
      bool done = false;
      for (std::size_t j = 1; j < t.size() && !done; ++j) {
        char o = t[j];
        if (o == 'c' || o == 'm') {
          if (o == 'm') module = true;
          else if (j + 1 < t.size()) attached.push_back(t.substr(j + 1));
          else if (k + 1 < a.size()) code.push_back(&a[k + 1]);
          done = true;
        } else if (o == 'W' || o == 'X') {
          if (j + 1 == t.size()) ++k;
          break;
        }
      }
      if (done) break;
      ++k;
      continue;
    }
    if (lang == CodeLang::Node) {
      if (t == "-e" || t == "--eval" || t == "-p" || t == "--print") {
        take_next(k);
        break;
      }
      if (t.starts_with("--eval=") || t.starts_with("--print=")) {
        attached.push_back(t.substr(t.find('=') + 1));
        break;
      }
      if (one_of(t, {"-r", "--require", "--import", "--loader", "--experimental-loader", "-C", "--conditions", "--input-type", "--env-file"})) {
        k += 2;
        continue;
      }
      ++k;
      continue;
    }
    if (lang == CodeLang::Perl || lang == CodeLang::Ruby || lang == CodeLang::Php) {
      char codeopt = lang == CodeLang::Php ? 'r' : 'e';
      bool consumed_next = false;
      for (std::size_t j = 1; j < t.size(); ++j) {
        char o = t[j];
        if (o == codeopt || (lang == CodeLang::Perl && o == 'E')) {
          if (j + 1 < t.size()) attached.push_back(t.substr(j + 1));
          else if (k + 1 < a.size()) {
            code.push_back(&a[k + 1]);
            consumed_next = true;
          }
          break;
        }
        if (lang == CodeLang::Php && o == 'f') {
          from_file = true;
          consumed_next = true;
          break;
        }
        if (std::string_view("iMmIxl0CdDVr").find(o) != std::string_view::npos) {
          if (j + 1 == t.size() && (o == 'I' || (o == 'r' && lang == CodeLang::Ruby))) consumed_next = true;
          break;
        }
      }
      k += consumed_next ? 2 : 1;
      continue;
    }
    if (lang == CodeLang::Lua || lang == CodeLang::R || lang == CodeLang::AppleScript) {
      // lua -e CODE, Rscript -e EXPR, osascript -e STATEMENT; -l (lua, osascript) takes a name.
      if (t == "-e" || (lang == CodeLang::R && t == "--expr")) {
        take_next(k);
        continue;
      }
      if (t == "-l" || t == "-W") {
        k += 2;
        continue;
      }
      ++k;
      continue;
    }
    if (lang == CodeLang::Awk) {
      if (t == "-f" || t == "--file") {
        from_file = true;
        k += 2;
        continue;
      }
      if (t == "-e" || t == "--source") {
        take_next(k);
        continue;
      }
      if (t.starts_with("--source=")) {
        attached.push_back(t.substr(9));
        ++k;
        continue;
      }
      if (t == "-F" || t == "-v" || t == "--assign" || t == "--field-separator") {
        k += 2;
        continue;
      }
      ++k;
      continue;
    }
    ++k;
  }
  for (const std::string& s : attached) apply_code(c, ci, s, lang);
  for (const Word* w : code) {
    if (w->resolved) apply_code(c, ci, w->text, lang);
    else dynamic_finding(c, ci, *w, nm);
  }
  if (!code.empty() || !attached.empty() || module || from_file || lang == CodeLang::Awk) return;
  if (script && is_fd_path(a[script]) && !is_stdin_path(a[script])) {
    c.find(FindingKind::StdinCode, ci, nm + " runs code read from the file descriptor " + a[script].text);
    return;
  }
  if (script && !is_stdin_path(a[script])) {
    if (a[script].resolved) run_written(c, ci, a[script].text, &lang);
    else if (a[script].proc_subst || a[script].has_subst) dynamic_finding(c, ci, a[script], nm);
    return;
  }
  (void)stdin_dash;
  std::string text;
  Origin origin = Origin::PipedText;
  if (stdin_code(c, ci, text, origin, nm) == Stdin::Text) apply_code(c, ci, text, lang);
}

}  // namespace keel::hooks::detail

// shell_analysis.cpp — pass 2 of the shell analyser: for each command found by pass 1, unwrap
// wrappers (sudo, env, timeout, xargs, ...), normalise git's global options, work out where its
// stdin comes from, recurse into code it runs (sh -c, eval, source, ssh, find -exec, python -c,
// node -e, heredocs, echo ... | sh), and remember files written earlier in the line so that
// write-then-run is seen.
#include "hooks/code_scan.h"
#include "hooks/shell_parser_impl.h"

#include <algorithm>
#include <initializer_list>

namespace keel::hooks::detail {
namespace {

bool one_of(std::string_view x, std::initializer_list<std::string_view> l) {
  return std::find(l.begin(), l.end(), x) != l.end();
}

bool has_opt(std::string_view argopts, std::string_view opt) {
  std::size_t p = 0;
  while ((p = argopts.find(opt, p)) != std::string_view::npos) {
    bool lb = p == 0 || argopts[p - 1] == ' ';
    bool rb = p + opt.size() == argopts.size() || argopts[p + opt.size()] == ' ';
    if (lb && rb) return true;
    ++p;
  }
  return false;
}

// Index of the first operand at or after k; options (with their arguments when listed in
// argopts) are skipped and a "--" is consumed.
std::size_t skip_opts(const std::vector<Word>& a, std::size_t k, std::string_view argopts) {
  while (k < a.size()) {
    const std::string& t = a[k].text;
    if (!a[k].resolved) return k;
    if (t == "--") return k + 1;
    if (t.size() < 2 || t[0] != '-') return k;
    if (t[1] == '-') {
      k += (t.find('=') == std::string::npos && has_opt(argopts, t)) ? 2 : 1;
      continue;
    }
    bool next = false;
    for (std::size_t j = 1; j < t.size(); ++j) {
      std::string o = std::string("-") + t[j];
      if (has_opt(argopts, o)) {
        next = j + 1 == t.size();
        break;
      }
    }
    k += next ? 2 : 1;
  }
  return k;
}

// Joins words the way ssh/watch/parallel do before handing them to a shell: texts with spaces.
std::string join_raw(const std::vector<Word>& a, std::size_t from, std::size_t to = std::string::npos) {
  std::string s;
  to = std::min(to, a.size());
  for (std::size_t k = from; k < to; ++k) {
    if (!s.empty()) s += ' ';
    s += a[k].text;
  }
  return s;
}

// Joins words as separate arguments (quoting resolved ones).
std::string join_quoted(const std::vector<Word>& a, std::size_t from) {
  std::string s;
  for (std::size_t k = from; k < a.size(); ++k) {
    if (!s.empty()) s += ' ';
    s += a[k].resolved && !a[k].glob ? shell_quote(a[k].text) : a[k].text;
  }
  return s;
}

bool is_shell(std::string_view n) {
  return one_of(n, {"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "rbash", "fish", "yash",
                    "posh", "tcsh", "csh", "ksh93", "lksh", "oksh"});
}

bool is_python(std::string_view n) {
  if (n == "pypy" || n == "pypy3") return true;
  if (!n.starts_with("python")) return false;
  return std::all_of(n.begin() + 6, n.end(), [](char ch) { return (ch >= '0' && ch <= '9') || ch == '.'; });
}

bool is_fetcher(std::string_view n) {
  return one_of(n, {"curl", "wget", "fetch", "http", "https", "httpie", "xh", "aria2c", "lynx", "links",
                    "w3m", "nc", "ncat", "netcat", "socat", "ssh", "ftp", "tftp", "smbclient", "gsutil",
                    "aws", "az", "gcloud", "invoke-webrequest", "iwr", "irm", "invoke-restmethod", "gh",
                    "git-remote", "scp", "rsync", "s3cmd", "rclone"});
}

bool is_decoder(std::string_view n) {
  return one_of(n, {"base64", "base32", "basenc", "xxd", "od", "openssl", "tr", "rev", "gunzip", "zcat",
                    "gzip", "bzip2", "bzcat", "xz", "xzcat", "unxz", "zstd", "zstdcat", "uudecode",
                    "iconv", "recode", "rot13", "perl", "python", "python3", "node", "ruby", "awk",
                    "gawk", "sed", "printf", "echo", "uncompress", "lz4", "brotli", "gpg", "age", "tac",
                    "cut", "paste", "jq"});
}

Command& cmd_at(Ctx& c, int i) { return c.out.commands[static_cast<std::size_t>(i)]; }

void push_synthetic(Ctx& c, int parent, std::vector<Word> argv, Origin origin, bool stdin_operands) {
  if (c.full()) return;
  int d = cmd_at(c, parent).depth + 1;
  if (d > c.lim.max_depth) {
    c.find(FindingKind::TooDeep, parent, "nested too deeply");
    return;
  }
  Command n;
  n.argv = std::move(argv);
  n.origin = origin;
  n.depth = d;
  n.parent = parent;
  n.operands_from_stdin = stdin_operands;
  n.synthetic = origin == Origin::Interpreter;
  c.words += n.argv.size();
  c.out.commands.push_back(std::move(n));
}

Word literal_word(std::string t, bool resolved = true) {
  Word w;
  w.text = std::move(t);
  w.resolved = resolved;
  return w;
}

// The text a command writes to stdout when it is statically known (echo/printf/cat <<EOF).
bool literal_output(const Command& up, std::string& text) {
  const auto& a = up.argv;
  if (up.name == "echo") {
    std::size_t k = 1;
    bool nl = true, esc = false;
    while (k < a.size() && a[k].resolved && a[k].text.size() > 1 && a[k].text[0] == '-' &&
           a[k].text.find_first_not_of("neE", 1) == std::string::npos) {
      if (a[k].text.find('n') != std::string::npos) nl = false;
      if (a[k].text.find('e') != std::string::npos) esc = true;
      ++k;
    }
    for (std::size_t j = k; j < a.size(); ++j)
      if (!a[j].resolved) return false;
    text = join_raw(a, k);
    if (esc) text = decode_ansi_c(text);
    if (nl) text += '\n';
    return true;
  }
  if (up.name == "printf") {
    std::size_t k = 1;
    if (k < a.size() && a[k].text == "--") ++k;
    if (k >= a.size() || !a[k].resolved) return false;
    const std::string& fmt = a[k].text;
    for (std::size_t j = k + 1; j < a.size(); ++j)
      if (!a[j].resolved) return false;
    if (fmt.find('%') == std::string::npos) {
      text = decode_ansi_c(fmt);
      return true;
    }
    if (fmt == "%s" || fmt == "%s\\n" || fmt == "%b" || fmt == "%b\\n") {
      text = join_raw(a, k + 1);
      if (fmt[1] == 'b') text = decode_ansi_c(text);
      if (fmt.size() > 2) text += '\n';
      return true;
    }
    return false;
  }
  if (up.name == "cat" && (up.stdin_kind == StdinKind::Heredoc || up.stdin_kind == StdinKind::HereString) &&
      up.stdin_known) {
    for (std::size_t j = 1; j < a.size(); ++j)
      if (a[j].text != "-") return false;
    text = up.stdin_text;
    return true;
  }
  return false;
}

std::string norm_path(std::string_view p) {
  while (p.starts_with("./")) p.remove_prefix(2);
  return std::string(p);
}

void dynamic_finding(Ctx& c, int ci, const Word& w, const std::string& what) {
  bool fetch = false, decode = false;
  for (const auto& n : w.subst_names) {
    if (is_fetcher(n)) fetch = true;
    if (is_decoder(n)) decode = true;
  }
  if (fetch) c.find(FindingKind::RemoteCode, ci, what + " runs code downloaded at run time");
  else if (decode) c.find(FindingKind::EncodedCode, ci, what + " runs code decoded at run time");
  else c.find(FindingKind::DynamicCode, ci, what + " runs code that is not known until run time: " + w.text);
}

// Init idioms whose output is meant to be eval'd/sourced: eval "$(ssh-agent -s)" etc.
bool init_idiom(std::string_view src) {
  while (!src.empty() && (src.front() == ' ' || src.front() == '\t')) src.remove_prefix(1);
  if (src.find_first_of(";&|`$<>\n") != std::string_view::npos) return false;
  std::size_t sp = src.find(' ');
  std::string first = lower(basename_of(src.substr(0, sp)));
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : src.substr(sp + 1);
  if (one_of(first, {"ssh-agent", "direnv", "pyenv", "rbenv", "nodenv", "jenv", "goenv", "plenv", "brew",
                     "starship", "zoxide", "fnm", "mise", "rtx", "conda", "thefuck", "keychain", "gpg-agent",
                     "opam", "luarocks", "dircolors", "atuin", "mcfly", "asdf", "register-python-argcomplete",
                     "hub", "pipenv", "poetry", "uv", "rustup", "nvm", "volta", "pixi", "micromamba", "ntfy",
                     "fzf", "gdircolors", "oh-my-posh", "just", "docker-machine", "minikube", "ng", "kind"}))
    return true;
  // X completion SHELL / X completions / X --completion
  return rest.find("completion") != std::string_view::npos || rest.starts_with("init") ||
         rest.starts_with("shellenv") || rest.starts_with("hook") || rest.starts_with("env");
}

enum class Stdin { None, Text, Unknown };

// What program text a shell/interpreter reading stdin gets. On Unknown the finding is recorded.
Stdin stdin_code(Ctx& c, int ci, std::string& text, Origin& origin, const std::string& what) {
  const Command& cmd = cmd_at(c, ci);
  switch (cmd.stdin_kind) {
    case StdinKind::Inherited:
    case StdinKind::File:
      return Stdin::None;
    case StdinKind::Heredoc:
    case StdinKind::HereString:
      origin = cmd.stdin_kind == StdinKind::Heredoc ? Origin::Heredoc : Origin::HereString;
      if (cmd.stdin_known) {
        text = cmd.stdin_text;
        return Stdin::Text;
      }
      c.find(FindingKind::DynamicCode, ci, what + " reads code from a here-string that is not known until run time");
      return Stdin::Unknown;
    case StdinKind::Pipe: {
      origin = Origin::PipedText;
      if (cmd.stdin_known) {
        text = cmd.stdin_text;
        return Stdin::Text;
      }
      bool fetch = false, decode = false;
      for (const auto& n : cmd.upstream) {
        if (is_fetcher(n)) fetch = true;
        if (is_decoder(n)) decode = true;
      }
      if (fetch) c.find(FindingKind::RemoteCode, ci, what + " executes a script downloaded from the network (piped into " + cmd.name + ")");
      else if (decode) c.find(FindingKind::EncodedCode, ci, what + " executes a payload decoded at run time");
      else c.find(FindingKind::StdinCode, ci, what + " executes code read from a pipe");
      return Stdin::Unknown;
    }
  }
  return Stdin::None;
}

bool run_written(Ctx& c, int ci, const std::string& path, const CodeLang* lang);

void apply_code(Ctx& c, int ci, std::string_view code, CodeLang lang) {
  for (auto& a : scan_code(code, lang)) {
    switch (a.kind) {
      case CodeAction::Kind::Shell:
        sub_parse(c, a.text, ci, Origin::Interpreter);
        break;
      case CodeAction::Kind::Argv: {
        std::vector<Word> words;
        for (auto& [t, r] : a.argv) words.push_back(literal_word(t, r));
        if (!words.empty()) push_synthetic(c, ci, std::move(words), Origin::Interpreter, false);
        break;
      }
      case CodeAction::Kind::Delete: {
        std::vector<Word> words{literal_word("rm")};
        if (a.recursive) words.push_back(literal_word("-r"));
        words.push_back(literal_word(a.target, a.target_resolved));
        push_synthetic(c, ci, std::move(words), Origin::Interpreter, false);
        break;
      }
      case CodeAction::Kind::Dynamic:
        c.find(FindingKind::DynamicShellout, ci, "interpreter code runs a shell command built at run time (" + a.text + ")");
        break;
      case CodeAction::Kind::ForkLoop:
        c.find(FindingKind::ForkBomb, ci, "interpreter code forks in a loop");
        break;
    }
  }
}

// ----------------------------------------------------------------------------------------------
// Wrappers

struct WrapSpec {
  std::string_view name;
  std::string_view argopts;
  int positional;
};

constexpr WrapSpec kWrappers[] = {
    {"sudo", " -u -g -h -p -C -D -r -t -U -T -R --user --group --host --prompt --close-from --chdir --role --type --other-user --command-timeout --chroot ", 0},
    {"doas", " -u -C ", 0},
    {"builtin", "", 0},
    {"noglob", "", 0},
    {"nohup", "", 0},
    {"unbuffer", "", 0},
    {"catchsegv", "", 0},
    {"rlwrap", " -a -f -H -P -S ", 0},
    {"exec", " -a ", 0},
    {"nice", " -n --adjustment ", 0},
    {"renice", " -n -g -p -u ", 0},
    {"timeout", " -s -k --signal --kill-after ", 1},
    {"gtimeout", " -s -k --signal --kill-after ", 1},
    {"time", " -f -o --format --output ", 0},
    {"stdbuf", " -i -o -e --input --output --error ", 0},
    {"ionice", " -c -n -p -P -u --class --classdata --pid --pgid --uid ", 0},
    {"chrt", "", 1},
    {"taskset", "", 1},
    {"setsid", "", 0},
    {"caffeinate", " -w -t ", 0},
    {"proxychains", " -f ", 0},
    {"proxychains4", " -f ", 0},
    {"torsocks", " -u -p -a -P ", 0},
    {"firejail", "", 0},
    {"strace", " -o -e -p -s -u -a -b -I -O -P -S -X ", 0},
    {"ltrace", " -o -e -p -s -u -a -n ", 0},
    {"valgrind", "", 0},
    {"systemd-run", " -p -u -E -M -H --property --unit --setenv --machine --host --description --slice --uid --gid ", 0},
    {"chroot", " --userspec --groups ", 1},
    {"busybox", "", 0},
    {"xargs", " -a -d -E -I -L -n -P -s --arg-file --delimiter --eof --replace --max-lines --max-args --max-procs --max-chars --process-slot-var ", 0},
    {"gxargs", " -a -d -E -I -L -n -P -s --arg-file --delimiter --eof --replace --max-lines --max-args --max-procs --max-chars --process-slot-var ", 0},
    {"bunx", " -p --package ", 0},
    {"pnpx", " -p --package ", 0},
    {"winpty", "", 0},
    {"sg", "", 1},
};

struct Wrap2Spec {
  std::string_view first, second, argopts;
  int positional;
};

constexpr Wrap2Spec kWrappers2[] = {
    {"docker", "exec", " -e -u -w --env --user --workdir --env-file --detach-keys ", 1},
    {"podman", "exec", " -e -u -w --env --user --workdir --env-file --detach-keys ", 1},
    {"docker", "run", " -e -v -p -w -u -l -m -h -a -c --name --network --net --entrypoint --mount --label --env --env-file --platform --memory --cpus --user --workdir --volume --publish --hostname --add-host --device --cap-add --cap-drop --security-opt --restart --log-driver --log-opt --pull --gpus --shm-size --ulimit --tmpfs --expose --dns --link --volumes-from --ipc --pid --runtime --stop-signal --cidfile --label-file --group-add --health-cmd ", 1},
    {"podman", "run", " -e -v -p -w -u -l -m -h -a -c --name --network --net --entrypoint --mount --label --env --env-file --platform --memory --cpus --user --workdir --volume --publish --hostname --add-host --device --cap-add --cap-drop --security-opt --restart --pull --tmpfs ", 1},
    {"direnv", "exec", "", 1},
    {"devbox", "run", " -c --config -e --env --env-file ", 0},
    {"uv", "run", " --with --python -p --directory --project --env-file --extra --group --package --index --with-requirements ", 0},
    {"poetry", "run", " -C --directory -P --project ", 0},
    {"pipenv", "run", "", 0},
    {"pdm", "run", " -p --project ", 0},
    {"hatch", "run", "", 0},
    {"rye", "run", "", 0},
    {"bundle", "exec", "", 0},
    {"conda", "run", " -n -p --name --prefix --cwd ", 0},
    {"mamba", "run", " -n -p --name --prefix --cwd ", 0},
    {"pixi", "run", " -e --environment --manifest-path ", 0},
    {"npm", "exec", " --package -p -w --workspace ", 0},
    {"pnpm", "exec", " -C --dir --filter -F ", 0},
    {"pnpm", "dlx", " --package ", 0},
    {"yarn", "dlx", " -p --package ", 0},
    {"yarn", "exec", "", 0},
    {"nix", "run", " -f --file ", 0},
    {"op", "run", " --env-file ", 0},
    {"doppler", "run", " -p -c --project --config --token ", 0},
    {"aws-vault", "exec", " -d --duration -t --mfa-token ", 1},
};

// Handles the wrapper at argv[0] of command ci. Returns the index where the wrapped command
// starts (> 0), or 0 when argv[0] is not a wrapper running a further command here (including
// wrappers whose payload was handled as a shell string).
std::size_t unwrap_one(Ctx& c, int ci, const std::string& nm) {
  const std::vector<Word> a = cmd_at(c, ci).argv;  // copy: sub_parse may grow the command list
  const std::size_t n = a.size();
  for (const auto& w : kWrappers) {
    if (nm != w.name) continue;
    if (nm == "sudo") {
      for (std::size_t k = 1; k < n && a[k].text.size() > 1 && a[k].text[0] == '-' && a[k].text[1] != '-'; ++k)
        if (a[k].text.find_first_of("elvK") != std::string::npos && a[k].text.find_first_of("uUgpChDrtTR") == std::string::npos)
          return 0;  // sudo -e (edit), -l, -v, -K: no command
    }
    std::size_t k = skip_opts(a, 1, w.argopts);
    if (nm == "xargs" || nm == "gxargs") {
      cmd_at(c, ci).operands_from_stdin = true;
      // -I R: replacement string inside the command's words.
      for (std::size_t j = 1; j + 1 < n && j < k; ++j)
        if (a[j].text == "-I" || a[j].text == "--replace") {
          std::string rep = a[j + 1].text;
          for (std::size_t q = k; q < n; ++q)
            if (!rep.empty() && a[q].text.find(rep) != std::string::npos)
              cmd_at(c, ci).argv[q].resolved = false;
        }
      if (k >= n) return 0;
    }
    for (int p = 0; p < w.positional && k < n; ++p) ++k;
    return k < n ? k : 0;
  }
  for (const auto& w : kWrappers2) {
    if (nm != w.first || n < 2 || a[1].text != w.second) continue;
    std::size_t k = skip_opts(a, 2, w.argopts);
    for (int p = 0; p < w.positional && k < n; ++p) ++k;
    return k < n ? k : 0;
  }
  if (nm == "env") {
    std::size_t k = 1;
    while (k < n) {
      const std::string& t = a[k].text;
      if (!a[k].resolved) return k;
      if (t == "--") return k + 1 < n ? k + 1 : 0;
      if (t == "-S" || t == "--split-string" || (t.starts_with("-S") && t.size() > 2) || t.starts_with("--split-string=")) {
        std::string s = t == "-S" || t == "--split-string" ? (k + 1 < n ? a[k + 1].text : std::string())
                        : t.starts_with("-S") ? t.substr(2) : t.substr(t.find('=') + 1);
        std::size_t rest = (t == "-S" || t == "--split-string") ? k + 2 : k + 1;
        sub_parse(c, s + " " + join_quoted(a, rest), ci, Origin::ShellString);
        return 0;
      }
      if (t == "-u" || t == "-C" || t == "-P" || t == "--unset" || t == "--chdir") {
        k += 2;
        continue;
      }
      if (t[0] == '-' || is_assignment_word(t)) {
        ++k;
        continue;
      }
      break;
    }
    return k < n ? k : 0;
  }
  if (nm == "command") {
    std::size_t k = 1;
    while (k < n && a[k].text.size() > 1 && a[k].text[0] == '-') {
      if (a[k].text == "--") return k + 1 < n ? k + 1 : 0;
      if (a[k].text.find_first_of("vV") != std::string::npos) return 0;  // lookup only
      ++k;
    }
    return k < n ? k : 0;
  }
  if (nm == "npx") {
    for (std::size_t k = 1; k + 1 < n; ++k)
      if (a[k].text == "-c" || a[k].text == "--call") {
        sub_parse(c, a[k + 1].text, ci, Origin::ShellString);
        return 0;
      }
    std::size_t k = skip_opts(a, 1, " -p --package ");
    return k < n ? k : 0;
  }
  if (nm == "flock") {
    for (std::size_t k = 1; k + 1 < n; ++k)
      if (a[k].text == "-c" || a[k].text == "--command") {
        sub_parse(c, a[k + 1].text, ci, Origin::ShellString);
        return 0;
      }
    std::size_t k = skip_opts(a, 1, " -w -E --timeout --conflict-exit-code ");
    ++k;  // the lock file
    return k < n ? k : 0;
  }
  if (nm == "watch") {
    std::size_t k = 1;
    bool exec_form = false;
    while (k < n && a[k].text.size() > 1 && a[k].text[0] == '-') {
      const std::string& t = a[k].text;
      if (t == "--") {
        ++k;
        break;
      }
      if (t == "-x" || t == "--exec") exec_form = true;
      k += (t == "-n" || t == "--interval" || t == "-q" || t == "--equexit") ? 2 : 1;
    }
    if (k >= n) return 0;
    if (exec_form) return k;
    sub_parse(c, join_raw(a, k), ci, Origin::ShellString);
    return 0;
  }
  if (nm == "parallel") {
    std::size_t k = skip_opts(a, 1, " -j -J -S -n -N -I -C -d -a -E --jobs --sshlogin --colsep --delimiter --arg-file --halt --joblog --results --tmpdir --workdir --timeout --load --env --memfree --delay --tag-string --tagstring ");
    std::size_t sep = k;
    while (sep < n && !one_of(a[sep].text, {":::", "::::", ":::+", "::::+"})) ++sep;
    if (sep == k) {
      c.find(FindingKind::DynamicCode, ci, "parallel runs command lines read from its input");
      return 0;
    }
    std::string text = join_raw(a, k, sep);
    for (std::size_t q = sep; q < n; ++q)
      if (!one_of(a[q].text, {":::", "::::", ":::+", "::::+"})) text += " " + a[q].text;
    std::size_t before = c.out.commands.size();
    sub_parse(c, text, ci, Origin::WrapperArgs);
    for (std::size_t q = before; q < c.out.commands.size(); ++q) c.out.commands[q].operands_from_stdin = true;
    return 0;
  }
  if (nm == "ssh") {
    std::size_t k = skip_opts(a, 1, " -b -c -D -E -e -F -I -i -J -L -l -m -O -o -p -Q -R -S -W -w -B ");
    if (k + 1 >= n) return 0;
    sub_parse(c, join_raw(a, k + 1), ci, Origin::Remote);
    return 0;
  }
  if (nm == "su" || nm == "runuser") {
    for (std::size_t k = 1; k < n; ++k) {
      const std::string& t = a[k].text;
      if ((t == "-c" || t == "--command") && k + 1 < n) {
        sub_parse(c, a[k + 1].text, ci, Origin::ShellString);
        return 0;
      }
      if (t.starts_with("--command=")) {
        sub_parse(c, t.substr(10), ci, Origin::ShellString);
        return 0;
      }
      if (t == "--" && nm == "runuser") return k + 1 < n ? k + 1 : 0;
    }
    return 0;
  }
  if (nm == "script") {
    for (std::size_t k = 1; k + 1 < n; ++k)
      if (a[k].text == "-c" || a[k].text == "--command") {
        sub_parse(c, a[k + 1].text, ci, Origin::ShellString);
        return 0;
      }
    return 0;
  }
  if (nm == "kubectl" || nm == "oc") {
    if (n < 2 || (a[1].text != "exec" && a[1].text != "debug")) return 0;
    for (std::size_t k = 2; k < n; ++k)
      if (a[k].text == "--") return k + 1 < n ? k + 1 : 0;
    std::size_t k = skip_opts(a, 2, " -c -n --container --namespace --context -f --filename ");
    ++k;
    return k < n ? k : 0;
  }
  if (nm == "mise" || nm == "rtx" || nm == "asdf") {
    if (n < 2 || !one_of(a[1].text, {"exec", "x"})) return 0;
    for (std::size_t k = 2; k < n; ++k)
      if (a[k].text == "--") return k + 1 < n ? k + 1 : 0;
    return 0;
  }
  if (nm == "nix-shell") {
    for (std::size_t k = 1; k + 1 < n; ++k)
      if (a[k].text == "--run" || a[k].text == "--command") {
        sub_parse(c, a[k + 1].text, ci, Origin::ShellString);
        return 0;
      }
    return 0;
  }
  return 0;
}

// git's global options come before the subcommand: git -C dir -c k=v --no-pager push ...
void normalise_git(Ctx& c, int ci) {
  std::vector<Word>& a = cmd_at(c, ci).argv;
  std::size_t k = 1;
  std::vector<std::string> aliases;
  while (k < a.size()) {
    const std::string& t = a[k].text;
    if (!a[k].resolved || t.empty() || t[0] != '-') break;
    if (t == "-C" || t == "-c" || t == "--git-dir" || t == "--work-tree" || t == "--namespace" ||
        t == "--exec-path" || t == "--super-prefix" || t == "--config-env" || t == "--list-cmds") {
      if (t == "-c" && k + 1 < a.size()) {
        const std::string& kv = a[k + 1].text;
        std::size_t eq = kv.find('=');
        if (lower(kv).starts_with("alias.") && eq != std::string::npos && kv.size() > eq + 1 && kv[eq + 1] == '!')
          aliases.push_back(kv.substr(eq + 2));
      }
      k += 2;
      continue;
    }
    ++k;  // --no-pager, -p, -P, --bare, --git-dir=..., --literal-pathspecs ...
  }
  if (k > 1) a.erase(a.begin() + 1, a.begin() + static_cast<long>(std::min(k, a.size())));
  for (auto& s : aliases) sub_parse(c, s, ci, Origin::ShellString);
}

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
    if (op.text == "/dev/stdin" || op.text == "/proc/self/fd/0") {
      // falls through to stdin handling
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
  if (script) {
    if (a[script].resolved) run_written(c, ci, a[script].text, &lang);
    else if (a[script].proc_subst || a[script].has_subst) dynamic_finding(c, ci, a[script], nm);
    return;
  }
  (void)stdin_dash;
  std::string text;
  Origin origin = Origin::PipedText;
  if (stdin_code(c, ci, text, origin, nm) == Stdin::Text) apply_code(c, ci, text, lang);
}

void handle_find(Ctx& c, int ci) {
  const std::vector<Word> a = cmd_at(c, ci).argv;
  for (std::size_t k = 1; k < a.size(); ++k) {
    if (!one_of(a[k].text, {"-exec", "-execdir", "-ok", "-okdir"})) continue;
    std::vector<Word> words;
    std::size_t j = k + 1;
    for (; j < a.size() && a[j].text != ";" && a[j].text != "+"; ++j) {
      Word w = a[j];
      if (w.text.find("{}") != std::string::npos) w.resolved = false;
      words.push_back(std::move(w));
    }
    if (!words.empty()) push_synthetic(c, ci, std::move(words), Origin::WrapperArgs, true);
    k = j;
  }
}

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
    if (!w0.resolved || w0.glob || w0.non_ascii || w0.text.empty()) {
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
  if (cmd_at(c, ci).name == "git") normalise_git(c, ci);
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
    } else if (nm == "find") {
      handle_find(c, ci);
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

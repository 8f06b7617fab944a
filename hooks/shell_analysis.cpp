// shell_analysis.cpp — pass 2 of the shell analyser: for each command found by pass 1, unwrap
// wrappers (sudo, env, timeout, xargs, ...), normalise git's global options, work out where its
// stdin comes from, recurse into code it runs (sh -c, eval, source, ssh, find -exec, python -c,
// node -e, heredocs, echo ... | sh), and remember files written earlier in the line so that
// write-then-run is seen.
#include "hooks/code_scan.h"
#include "hooks/shell_parser_impl.h"

#include <algorithm>
#include <cctype>
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

// Script operands that name the program's own stdin: a shell or interpreter given one reads its
// code from the pipe (curl ... | sh /dev/fd/0).
bool is_stdin_path(const Word& w) {
  const std::string& t = w.text;
  if (t == "/dev/stdin" || t == "/dev/fd/0") return true;
  // /proc/self/fd/0, /proc/$$/fd/0, /proc/1234/fd/0
  return t.starts_with("/proc/") && t.ends_with("/fd/0") && t.find('/', 6) == t.size() - 5;
}

// /dev/fd/N and /proc/*/fd/N (N > 0): code read from a descriptor the analyser cannot see.
bool is_fd_path(const Word& w) {
  const std::string& t = w.text;
  return t.starts_with("/dev/fd/") || (t.starts_with("/proc/") && t.find("/fd/") != std::string::npos);
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
      case CodeAction::Kind::Read:
        // A synthetic reader, so that the secrets rules judge the path like `cat PATH`.
        if (a.target_resolved) push_synthetic(c, ci, {literal_word("cat"), literal_word(a.target)}, Origin::Interpreter, false);
        break;
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
    {"toybox", "", 0},
    {"unshare", " -S -G -R -w --setuid --setgid --root --wd --map-user --map-group --map-users --map-groups --propagation --setgroups --kill-child --mount-proc --load-interp ", 0},
    {"pkexec", " -u --user ", 0},
    {"run0", " -u -g -D -a --user --group --chdir --setenv --unit --property --description --slice --nice --machine --background ", 0},
    {"sshpass", " -p -f -d -P ", 0},
    {"gosu", "", 1},
    {"su-exec", "", 1},
    {"setpriv", " --reuid --regid --groups --inh-caps --ambient-caps --bounding-set --securebits --pdeathsig --selinux-label --apparmor-profile --landlock-access --landlock-rule ", 0},
    {"coproc", "", 0},
    {"xargs", " -a -d -E -I -L -n -P -s --arg-file --delimiter --eof --replace --max-lines --max-args --max-procs --max-chars --process-slot-var ", 0},
    {"gxargs", " -a -d -E -I -L -n -P -s --arg-file --delimiter --eof --replace --max-lines --max-args --max-procs --max-chars --process-slot-var ", 0},
    {"bunx", " -p --package ", 0},
    {"pnpx", " -p --package ", 0},
    {"winpty", "", 0},
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
    {"docker-compose", "exec", " -e -u -w --env --user --workdir --index ", 1},
    {"docker-compose", "run", " -e -u -w -v -p -l --env --user --workdir --volume --publish --label --name --entrypoint ", 1},
    {"podman-compose", "exec", " -e -u -w --env --user --workdir --index ", 1},
    {"podman-compose", "run", " -e -u -w -v -p -l --env --user --workdir --volume --publish --label --name --entrypoint ", 1},
};

// docker compose exec|run SERVICE CMD...: a wrapper three words deep.
constexpr Wrap2Spec kComposeSubcommands[] = {
    {"compose", "exec", " -e -u -w --env --user --workdir --index ", 1},
    {"compose", "run", " -e -u -w -v -p -l --env --user --workdir --volume --publish --label --name --entrypoint ", 1},
};

// ssh -o options whose value is a command run on this machine (or, RemoteCommand, remotely).
bool ssh_command_option(std::string_view key) {
  std::string k = lower(key);
  return k == "proxycommand" || k == "localcommand" || k == "remotecommand" || k == "knownhostscommand";
}

// Handles the wrapper at argv[0] of command ci. Returns the index where the wrapped command
// starts (> 0), or 0 when argv[0] is not a wrapper running a further command here (including
// wrappers whose payload was handled as a shell string).
std::size_t unwrap_one(Ctx& c, int ci, const std::string& nm) {
  const std::vector<Word> a = cmd_at(c, ci).argv;  // copy: sub_parse may grow the command list
  const std::size_t n = a.size();
  if (nm == "coproc" && n > 2 && a[1].text != "{" && a[2].text == "{") return 3 < n ? 3 : 0;  // coproc NAME { cmd; }
  if (nm == "coproc" && n > 1 && a[1].text == "{") return 2 < n ? 2 : 0;
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
  if (nm == "npm" && n > 2 && a[1].text == "exec") {
    for (std::size_t k = 2; k + 1 < n; ++k)
      if (a[k].text == "-c" || a[k].text == "--call") {
        sub_parse(c, a[k + 1].text, ci, Origin::ShellString);
        return 0;
      }
  }
  for (const auto& w : kWrappers2) {
    if (nm != w.first || n < 2 || a[1].text != w.second) continue;
    std::size_t k = skip_opts(a, 2, w.argopts);
    for (int p = 0; p < w.positional && k < n; ++p) ++k;
    return k < n ? k : 0;
  }
  if ((nm == "docker" || nm == "podman") && n > 2) {
    for (const auto& w : kComposeSubcommands) {
      if (a[1].text != w.first || a[2].text != w.second) continue;
      std::size_t k = skip_opts(a, 3, w.argopts);
      for (int p = 0; p < w.positional && k < n; ++p) ++k;
      return k < n ? k : 0;
    }
  }
  if (nm == "trap") {
    // trap 'cmd' SIGNAL...: cmd runs when the signal (or EXIT) arrives.
    if (n > 2 && !a[1].text.starts_with("-")) {
      if (a[1].resolved) sub_parse(c, a[1].text, ci, Origin::ShellString);
      else dynamic_finding(c, ci, a[1], "trap");
    }
    return 0;
  }
  if (nm == "sg") {
    // sg [-] GROUP [-c] COMMAND: the command is a shell string.
    std::size_t k = 1;
    if (k < n && a[k].text == "-") ++k;
    ++k;  // the group
    if (k < n && a[k].text == "-c") ++k;
    if (k < n) sub_parse(c, join_raw(a, k), ci, Origin::ShellString);
    return 0;
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
  if (nm == "ssh" || nm == "scp" || nm == "sftp") {
    for (std::size_t k = 1; k < n; ++k) {
      std::string opt;
      if (a[k].text == "-o" && k + 1 < n) opt = a[k + 1].text;
      else if (a[k].text.starts_with("-o") && a[k].text.size() > 2) opt = a[k].text.substr(2);
      else continue;
      std::size_t sep = opt.find_first_of("= ");
      if (sep == std::string::npos || !ssh_command_option(opt.substr(0, sep))) continue;
      std::size_t v = opt.find_first_not_of("= ", sep);
      if (v != std::string::npos) sub_parse(c, opt.substr(v), ci, Origin::ShellString);
    }
    if (nm != "ssh") return 0;
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
    for (std::size_t k = 2; k < n; ++k) {
      if (a[k].text == "--") return k + 1 < n ? k + 1 : 0;
      if ((a[k].text == "-c" || a[k].text == "--command") && k + 1 < n) {
        sub_parse(c, a[k + 1].text, ci, Origin::ShellString);
        return 0;
      }
    }
    if (nm == "asdf") return 2 < n ? 2 : 0;  // asdf exec COMMAND [ARGS]
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

bool git_false(std::string_view v) {
  std::string l = lower(v);
  return l == "false" || l == "no" || l == "off" || l == "0";
}

// git's global options come before the subcommand: git -C dir -c k=v --no-pager push ...
// They are removed, so that argv[1] is the subcommand; on the way, configuration that runs
// commands (-c alias.x='!cmd', -c core.pager=cmd ...) is analysed as shell code, an alias
// without '!' is expanded in place of the subcommand, and -c clean.requireForce=false turns
// into the --force it implies.
void normalise_git(Ctx& c, int ci) {
  std::vector<Word>& a = cmd_at(c, ci).argv;
  std::size_t k = 1;
  std::vector<std::string> code;
  std::vector<std::pair<std::string, std::string>> aliases;  // name -> git arguments
  bool no_require_force = false;
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

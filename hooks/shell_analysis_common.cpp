// shell_analysis_common.cpp — pass 2, what the per-family analysers share: option skipping and
// word joining, program families (shells, interpreters, fetchers, decoders), synthetic commands,
// statically known output, dynamic-code findings, and the code a shell or interpreter reads on
// stdin.
#include "hooks/shell_analysis_impl.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>

namespace keel::hooks::detail {

bool one_of(std::string_view x, std::initializer_list<std::string_view> l) {
  return std::find(l.begin(), l.end(), x) != l.end();
}

namespace {
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
}  // namespace

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
std::string join_raw(const std::vector<Word>& a, std::size_t from, std::size_t to) {
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

namespace {
bool is_decoder(std::string_view n) {
  return one_of(n, {"base64", "base32", "basenc", "xxd", "od", "openssl", "tr", "rev", "gunzip", "zcat",
                    "gzip", "bzip2", "bzcat", "xz", "xzcat", "unxz", "zstd", "zstdcat", "uudecode",
                    "iconv", "recode", "rot13", "perl", "python", "python3", "node", "ruby", "awk",
                    "gawk", "sed", "printf", "echo", "uncompress", "lz4", "brotli", "gpg", "age", "tac",
                    "cut", "paste", "jq"});
}
}  // namespace

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

Word literal_word(std::string t, bool resolved) {
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

}  // namespace keel::hooks::detail

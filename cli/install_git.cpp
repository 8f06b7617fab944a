// keel install git: adds keel's lease check to the repository's pre-commit hook (and
// --uninstall takes it out again). An existing pre-commit hook is never replaced: it is moved
// to pre-commit.keel-chained and run after keel's check, with the same arguments; uninstalling
// moves it back. The hooks directory is git's own answer (`git rev-parse --git-path hooks`), so
// core.hooksPath and worktrees are honoured.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli/commands.h"

namespace keel::cli {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMarker = "# keel pre-commit guard (keel install git)";

std::optional<std::string> run_git(const char* command) {
  FILE* f = ::popen(command, "r");
  if (!f) return std::nullopt;
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  if (::pclose(f) != 0) return std::nullopt;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_ours(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && read_file(p).find(kMarker) != std::string::npos;
}

// Single quotes for /bin/sh.
std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) {
    if (ch == '\'') out += "'\\''";
    else out.push_back(ch);
  }
  return out + "'";
}

std::string script(const std::string& keel) {
  return "#!/bin/sh\n" + std::string(kMarker) +
         "\n# Refuses a commit that stages a file under another agent's live lease, then runs the\n"
         "# pre-commit hook this one chained (pre-commit.keel-chained), if any. `keel install git\n"
         "# --uninstall` restores that hook.\n" +
         sh_quote(keel) + " hook pre-commit || exit $?\n"
         "chained=\"$(dirname \"$0\")/pre-commit.keel-chained\"\n"
         "if [ -x \"$chained\" ]; then exec \"$chained\" \"$@\"; fi\n"
         "exit 0\n";
}

int run_install_git(const Args& args, Workspace&) {
  if (!args.positionals().empty()) throw UsageError("unexpected argument '" + args.positionals()[0] + "'");
  std::optional<std::string> dir = run_git("git rev-parse --path-format=absolute --git-path hooks 2>/dev/null");
  if (!dir) dir = run_git("git rev-parse --git-path hooks");
  if (!dir || dir->empty()) {
    std::cerr << "keel install git: not inside a git repository\n";
    return 1;
  }
  const fs::path hooks = fs::absolute(*dir);
  const fs::path hook = hooks / "pre-commit";
  const fs::path chained = hooks / "pre-commit.keel-chained";
  std::error_code ec;
  if (args.has("uninstall")) {
    if (!is_ours(hook)) {
      std::cout << "nothing to remove: " << hook.string() << " is not keel's\n";
      return 0;
    }
    fs::remove(hook);
    if (fs::exists(chained, ec)) {
      fs::rename(chained, hook);
      std::cout << "removed keel from " << hook.string() << "; the previous hook is back\n";
    } else {
      std::cout << "removed " << hook.string() << "\n";
    }
    return 0;
  }
  std::string keel = args.get("binary").value_or("");
  if (keel.empty()) keel = fs::read_symlink("/proc/self/exe", ec).string();
  if (keel.empty()) throw UsageError("cannot tell where this keel is: give --binary PATH");
  fs::create_directories(hooks, ec);
  const bool ours = is_ours(hook);
  if (!ours && (fs::exists(hook, ec) || fs::is_symlink(hook, ec))) {
    if (fs::exists(chained, ec)) {
      std::cerr << "keel install git: " << chained.string() << " already exists; move it away first\n";
      return 1;
    }
    fs::rename(hook, chained);
    std::cout << "kept the existing hook as " << chained.string() << " (run after keel's check)\n";
  }
  const std::string text = script(keel);
  if (ours && read_file(hook) == text) {
    std::cout << "nothing to do: keel is already in " << hook.string() << "\n";
    return 0;
  }
  const fs::path tmp = hooks / ("pre-commit.keel-tmp-" + std::to_string(::getpid()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp.string());
  }
  fs::permissions(tmp, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);
  fs::rename(tmp, hook);
  std::cout << "installed keel's lease check in " << hook.string() << "\n";
  return 0;
}

}  // namespace

Command install_git_command() {
  return Command{
      .words = {"install", "git"},
      .usage = "keel install git [--uninstall] [--binary PATH]",
      .summary = "add keel's lease check to the repository's git pre-commit hook (or remove it)",
      .details =
          "A commit that stages a file under another agent's live lease is refused, naming the\n"
          "holder and the expiry (`keel hook pre-commit`): a second line of defence for commits\n"
          "made where the agent's tool hooks did not run (subagents, hooks turned off). The\n"
          "agent is $KEEL_AGENT, else the agent session that ran git. An existing pre-commit\n"
          "hook is kept as pre-commit.keel-chained and runs after keel's check; --uninstall\n"
          "puts it back. Honours core.hooksPath. Running it again changes nothing.",
      .options = {{"uninstall", "", "remove keel's check and restore the chained hook"},
                  {"binary", "PATH", "the keel to run (default: this executable)"}},
      .run = run_install_git};
}

}  // namespace keel::cli

// analysed_event.cpp — see analysed_event.h.
#include "hooks/analysed_event.h"

#include <cstdlib>
#include <filesystem>
#include <set>

namespace keel::hooks {

namespace {

namespace fs = std::filesystem;

std::string absolute_in(const std::string& path, const std::string& cwd) {
  if (path.empty()) return {};
  fs::path p(path);
  if (path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (!home) return {};
    p = fs::path(home) / path.substr(2);
  } else if (p.is_relative()) {
    if (cwd.empty()) return {};
    p = fs::path(cwd) / p;
  }
  return p.lexically_normal().string();
}

// Operands of `argv` that a writer command modifies.
void writer_operands(const Command& c, std::vector<std::string>& out) {
  static const std::set<std::string> all_operands{
      "rm", "rmdir", "mv", "touch", "tee", "truncate", "mkdir", "shred", "unlink"};
  static const std::set<std::string> last_operand{"cp", "ln", "install", "rsync"};
  static const std::set<std::string> after_first{"chmod", "chown", "chgrp"};
  std::vector<std::string> operands;
  bool options_done = false;
  for (std::size_t i = 1; i < c.argv.size(); ++i) {
    const Word& w = c.argv[i];
    if (!options_done && w.text == "--") {
      options_done = true;
      continue;
    }
    if (!options_done && !w.text.empty() && w.text[0] == '-') continue;
    if (w.resolved && !w.glob) operands.push_back(w.text);
  }
  if (all_operands.count(c.name)) {
    out.insert(out.end(), operands.begin(), operands.end());
  } else if (last_operand.count(c.name) && operands.size() >= 2) {
    out.push_back(operands.back());
  } else if (after_first.count(c.name) && operands.size() >= 2) {
    out.insert(out.end(), operands.begin() + 1, operands.end());
  } else if (c.name == "sed") {
    bool in_place = false;
    for (const Word& w : c.argv) {
      if (w.text.rfind("-i", 0) == 0 || w.text == "--in-place") in_place = true;
    }
    // sed -i SCRIPT FILE...: everything after the script.
    if (in_place && operands.size() >= 2) out.insert(out.end(), operands.begin() + 1, operands.end());
  }
}

}  // namespace

const Script& AnalysedEvent::script() const {
  if (!script_) script_ = parse_shell(ev_.command);
  return *script_;
}

const std::vector<ShellPatch>& AnalysedEvent::shell_patches(std::string_view home) const {
  if (!patches_ || patches_home_ != home) {
    patches_ = hooks::shell_patches(script(), ev_.cwd, home);
    patches_home_ = home;
  }
  return *patches_;
}

const std::vector<std::string>& AnalysedEvent::written_paths() const {
  if (written_) return *written_;
  std::vector<std::string> raw;
  switch (ev_.tool) {
    case ToolKind::Write:
    case ToolKind::Edit:
    case ToolKind::Delete:
      raw = ev_.file_paths;
      break;
    case ToolKind::Shell: {
      if (is_powershell_tool(ev_.tool_name)) break;
      for (const Command& c : script().commands) {
        for (const Redirect& r : c.redirects) {
          if (r.writes() && r.target.resolved && !r.target.glob) raw.push_back(r.target.text);
        }
        writer_operands(c, raw);
      }
      // apply_patch run as a shell command writes the files its patch names (the paths it
      // cannot know are the permission gate's to ask about).
      const char* home = std::getenv("HOME");
      for (const ShellPatch& p : shell_patches(home ? home : ""))
        raw.insert(raw.end(), p.paths.begin(), p.paths.end());
      break;
    }
    default:
      break;
  }
  std::vector<std::string> out;
  for (const auto& p : raw) {
    if (p == "/dev/null" || p.rfind("/dev/fd/", 0) == 0) continue;
    std::string abs = absolute_in(p, ev_.cwd);
    if (!abs.empty()) out.push_back(std::move(abs));
  }
  written_ = std::move(out);
  return *written_;
}

std::vector<std::string> written_paths(const HookEvent& ev) { return AnalysedEvent(ev).written_paths(); }

}  // namespace keel::hooks

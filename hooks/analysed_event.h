// analysed_event.h — a hook event as every policy sees it: the dialect's HookEvent plus what is
// derived from it, each computed at most once per event whichever policy asks first.
//
// Contract:
// - script() is the event's command line (HookEvent::command) parsed by the shell analyser
//   (shell_parser.h), parsed on first use: a call no policy parses (a file tool, a shell call
//   a "line" rule decided) never pays for it.
// - shell_patches(home) are the apply_patch runs of script() (apply_patch.h), for the event's
//   cwd and `home`; kept for the last `home` asked (the permission gate's configured home and
//   $HOME are the same unless permission.home says otherwise).
// - written_paths() lists, as absolute paths, what the tool call would write:
//   the file tools' paths (Write/Edit/Delete; Read and search tools write
//   nothing), and for POSIX shell commands the targets of writing redirections and
//   the operands of common writers (rm, mv, cp's destination, touch, tee,
//   truncate, sed -i, ln, mkdir, rmdir, chmod/chown), and every file named by
//   the patch of an `apply_patch`/`applypatch` the command runs (relative to the directory a
//   preceding `cd` moves it to). Relative paths are taken from the event's cwd, "~/" from
//   $HOME. Words the parser could not resolve (and patches it cannot read) are skipped here;
//   the permission gate already asks about those. /dev/null and /dev/fd/N are not writes.
// - Refers to the HookEvent, which must outlive it. Not thread-safe (one event, one thread).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hooks/apply_patch.h"
#include "hooks/hook_event.h"
#include "hooks/shell_parser.h"

namespace keel::hooks {

class AnalysedEvent {
 public:
  explicit AnalysedEvent(const HookEvent& ev) noexcept : ev_(ev) {}
  AnalysedEvent(const AnalysedEvent&) = delete;
  AnalysedEvent& operator=(const AnalysedEvent&) = delete;

  const HookEvent& event() const noexcept { return ev_; }
  const Script& script() const;
  const std::vector<ShellPatch>& shell_patches(std::string_view home) const;
  const std::vector<std::string>& written_paths() const;

 private:
  const HookEvent& ev_;
  mutable std::optional<Script> script_;
  mutable std::optional<std::vector<ShellPatch>> patches_;
  mutable std::string patches_home_;
  mutable std::optional<std::vector<std::string>> written_;
};

// AnalysedEvent(ev).written_paths(), for a single question.
std::vector<std::string> written_paths(const HookEvent& ev);

}  // namespace keel::hooks

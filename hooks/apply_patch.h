// apply_patch.h — the files a Codex-style patch names, for the apply_patch tool and for
// `apply_patch` / `applypatch` run as a shell command.
//
// Contract:
// - patch_header_paths(patch) lists, in order and each once, the paths of the patch's file
//   headers: "*** Add File: ", "*** Update File: ", "*** Delete File: ", "*** Move to: " (leading
//   and trailing blanks of the line ignored, as Codex's parser does) and the unified-diff
//   "+++ b/" and "--- a/". The one header parser: the apply_patch tool's file_paths
//   (dialect_util) and the shell form below both use it.
// - shell_patches(script, cwd, home) finds every command of an analysed shell line whose name is
//   apply_patch or applypatch (through the wrappers and nested shells the analyser follows:
//   sudo, bash -lc "...", heredocs fed to a shell, ...) and says what each writes. The patch is
//   its first argument when it has arguments, else its stdin (a heredoc, a here-string, or a
//   literal piped in by echo/printf/cat <<EOF). Relative header paths are taken from the
//   directory the command runs in: `cwd` (the event's) moved by the `cd`/`pushd` commands before
//   it in the same shell (`cd sub && apply_patch ...`, also outside a `bash -lc` that runs it).
// - What cannot be known statically is reported in ShellPatch::unresolved, never guessed: an
//   argument with $var/$( ), stdin from a file, an unknown pipe or the terminal, an unquoted
//   heredoc that expands $ or ` (its text, hence its headers, is only known at run time), or a
//   relative header path under a directory a `cd` makes unknown. The permission gate asks about
//   those (rule patch.unresolved); the lease gate checks the paths that are known.
// - Costs nothing for a line that runs no apply_patch: one name comparison per command.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hooks/shell_parser.h"

namespace keel::hooks {

std::vector<std::string> patch_header_paths(std::string_view patch);

// Command names that apply a patch given as argv[1] or on stdin (as Codex recognises them).
bool is_apply_patch_name(std::string_view name) noexcept;

struct ShellPatch {
  int command = -1;                // index into Script::commands
  std::vector<std::string> paths;  // the known header paths, relative ones joined to the run
                                   // directory (left relative only when no cwd is known)
  std::string unresolved;          // non-empty: what could not be known, for the reason
};

// `cwd`: the event's working directory ("" → unknown: relative paths stay relative).
// `home`: for `cd` / `cd ~/x` ("" → such a cd makes the directory unknown).
std::vector<ShellPatch> shell_patches(const Script& script, std::string_view cwd,
                                      std::string_view home);

}  // namespace keel::hooks

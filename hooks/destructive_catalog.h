// destructive_catalog.h — the built-in catalog of destructive or secret-exposing actions the
// permission gate refuses (deny) or puts to a human (ask) when no user rule decides.
//
// Every hit carries a stable rule id ("rm.root", "git.reset-hard", ...; list in hooks/README.md),
// a human reason, and whether it stems from something the analyser could not resolve (strict
// mode turns those asks into denies). Decision policy:
//   - deny: irreversible damage outside the project or to shared history/state (rm -rf on / ~ ..
//     * ., git reset --hard / clean -f / push --force, mkfs, dd to a device, DROP TABLE, curl|sh,
//     decoded payloads run by a shell, fork bombs, kill -1, shutdown, reading private keys/.env);
//   - ask: destructive but plausibly intended (recursive rm of an ordinary path, branch -D,
//     stash drop, force-with-lease, find -delete, truncate -s 0, rsync --delete, edits to agent
//     hook configuration), and anything not statically known in a command or dangerous-argument
//     position (never allow).
// Pure functions of their inputs, except that `git checkout <word>` stats <cwd>/<word> (a path
// or a branch?); no allocation-heavy setup (static tables only).
#pragma once

#include "hooks/hook_event.h"
#include "hooks/shell_parser.h"

#include <optional>
#include <string>
#include <string_view>

namespace keel::hooks {

struct CatalogHit {
  Outcome outcome = Outcome::Ask;  // Ask or Deny
  std::string id;                  // e.g. "rm.root"
  std::string reason;              // human explanation
  bool unresolved = false;         // caused by something not statically known (strict → deny)
};

struct CatalogOptions {
  std::string home;  // the user's home directory ("" → only "~" spellings count as home)
  std::string cwd;   // the working directory of the call ("" → unknown)
};

// Checks command `ci` of an analysed script. Returns the most severe hit, if any.
std::optional<CatalogHit> check_command(const Script& script, int ci, const CatalogOptions& opts);

// Maps an analyser finding to a hit (remote code → deny, unknown code → ask, ...).
std::optional<CatalogHit> check_finding(const Finding& f);

enum class PathAccess { Read, Write, Delete };

// Checks a path a file tool (Read/Write/Edit/Delete/Grep/MCP) touches.
std::optional<CatalogHit> check_path(std::string_view path, PathAccess access, const CatalogOptions& opts);

// Secret classification used by check_path and by shell readers: 2 = deny, 1 = ask, 0 = none.
int secret_level(std::string_view path);

// True for paths of agent hook configuration, keel's config and keel's state directory.
bool is_hook_config_path(std::string_view path);

}  // namespace keel::hooks

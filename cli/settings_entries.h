// keel/cli/settings_entries.h — keel's own entries inside an agent's JSON
// settings: its hook handlers and its MCP server. Adds, replaces or removes
// only those and keeps every other key, hook and server as it was.
//
// What counts as keel's:
// - a hook handler whose program is keel (exec form: `command`; shell form: the
//   first word of `command` after any NAME=value words, quotes removed) and
//   whose first argument is `hook`. The program is keel when its basename is
//   `keel` or it is the binary being installed. So `keel hook --dialect claude`
//   written by hand from the README is replaced too, and a user's other hooks
//   (even ones that run keel for something else) are never touched.
// - the MCP server entry named "keel".
//
// Two hook layouts exist:
// - grouped (Claude Code, Codex, Gemini CLI): hooks.{Event}: [{matcher?, hooks: [handler…]}]
// - flat (Cursor): hooks.{event}: [handler…]
// Installing puts keel's entry where keel's previous entry was (so running it
// twice changes nothing), else appends it. Removing drops keel's handlers and
// any group, event list, `hooks` object or server map left empty by that
// removal (containers that were already empty stay).
//
// Functions throw SettingsError when a container keel must change has the
// wrong type (e.g. `hooks` is a string). Pure; thread-safe.
#pragma once

#include <string>
#include <vector>

#include <boost/json.hpp>

#include "cli/settings_json.h"

namespace keel::cli {

// Recognises keel's hook handlers (see above).
struct KeelHandlerMatcher {
  std::string binary;  // absolute path of the keel being installed
  bool matches(const boost::json::value& handler) const;
};

// One hook entry keel wants: for grouped layouts `entry` is the whole group
// ({matcher?, hooks:[handler]}), for the flat layout the handler itself.
struct WantedHook {
  std::string event;
  boost::json::object entry;
};

enum class HookLayout { Grouped, Flat };

// Makes keel's hooks under root["hooks"] exactly `wanted` (empty = uninstall).
void set_keel_hooks(boost::json::object& root, HookLayout layout,
                    const std::vector<WantedHook>& wanted, const KeelHandlerMatcher& keel);

// root[container]["keel"] = server (creating the container), or with no
// server, removes it (and the container if that leaves it empty).
void set_keel_server(boost::json::object& root, const std::string& container,
                     const boost::json::object* server);

// The first two words of a shell command line, quotes removed, leading
// NAME=value assignments skipped ("" when absent). Exposed for tests.
std::vector<std::string> leading_shell_words(std::string_view command, std::size_t count);

}  // namespace keel::cli

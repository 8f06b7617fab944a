// keel/cli/doctor_scopes.h — where `keel doctor` looks, and what it finds
// there: for one agent and one scope (project or user), the files `keel
// install` writes (install_command.cpp edits_for), keel's MCP server entry
// and keel's hook handlers in them. Files are read once per run and cached.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "cli/settings_entries.h"

namespace keel::cli::doctor {

namespace fs = std::filesystem;

struct LoadedFile {
  bool exists = false;
  std::string error;  // parse error; empty when it parsed
  boost::json::object root;
};

// Settings files (JSON or Codex's TOML), each parsed at most once.
class Files {
 public:
  const LoadedFile& json_file(const fs::path& p) { return load(p, false); }
  const LoadedFile& toml_file(const fs::path& p) { return load(p, true); }

 private:
  const LoadedFile& load(const fs::path& p, bool toml);
  std::map<std::string, LoadedFile> cache_;
};

// Where one agent keeps keel's entries in one scope (install_command.cpp edits_for).
struct ScopeSpec {
  std::string agent;
  std::string scope;
  fs::path base;
  fs::path server_file;  // holds mcpServers.keel / [mcp_servers.keel]
  bool server_toml = false;
  fs::path hooks_file;
  HookLayout layout = HookLayout::Grouped;
};

// `agent`'s files in user scope (base: $HOME; $CODEX_HOME for Codex) or
// project scope (base: the project root).
ScopeSpec scope_spec(const std::string& agent, bool user, const fs::path& base);

// The events keel install gives each agent, the gate's first.
std::vector<std::string> expected_events(const std::string& agent);

// One of keel's hook handlers as the agent will run it.
struct KeelHandler {
  std::string event;
  std::size_t group = 0;  // grouped layouts
  std::size_t index = 0;
  boost::json::object group_obj;
  boost::json::object handler;
  bool exec_form = false;
  std::string program;  // what the agent runs
  std::string dialect;  // --dialect's value, "" when absent
};

// What one scope holds of keel's.
struct ScopeState {
  std::vector<std::string> broken;  // files that do not parse
  std::optional<boost::json::object> server;
  std::vector<KeelHandler> handlers;
  bool hooks_disabled = false;  // Claude's disableAllHooks
  bool installed() const { return server.has_value() || !handlers.empty(); }
};

// Reads the scope's files; `self` is the keel binary assumed when the server
// entry names none.
ScopeState inspect(const ScopeSpec& s, Files& files, const std::string& self);

// "run `keel install <agent>[ --scope <scope>]`".
std::string install_fix(const ScopeSpec& s);

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ");

// The canonical path, resolving what exists of it; `p` itself on error.
std::string real_path(const fs::path& p);

}  // namespace keel::cli::doctor

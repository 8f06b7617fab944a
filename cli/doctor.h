// keel/cli/doctor.h — the checks of `keel doctor` (see doctor_command.cpp for
// what it promises). One Doctor makes one Report: agent() for each agent in
// turn, then store(). The checks that hold for every agent are in
// doctor_command.cpp, those of one agent's own trust and switches (Claude
// Code's workspace trust, Codex's hook and project trust, Gemini CLI's folder
// trust and settings) in doctor_agent_checks.cpp.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <utility>

#include "cli/doctor_report.h"
#include "cli/doctor_scopes.h"
#include "cli/workspace.h"

namespace keel::cli::doctor {

class Doctor {
 public:
  Doctor(Workspace& ws, Report& report);

  // `a`'s entries in both scopes, its version, its trust. `asked`: the user
  // named the agent, so its absence is a problem rather than a note.
  void agent(const std::string& a, bool asked);
  // keel's store opens and its journal verifies.
  void store();

 private:
  void scope(const ScopeSpec& s, const ScopeState& st);
  void server(const ScopeSpec& s, const boost::json::object& server);
  void hooks(const ScopeSpec& s, const ScopeState& st);
  void version(const std::string& a, bool exec_form);

  const LoadedFile& codex_user_config();
  void codex_trust(const ScopeSpec& s, const ScopeState& st);
  void claude_project(const ScopeSpec& s);
  void gemini_trust();
  // Gemini CLI settings that silence keel although its entries are there:
  // hooksConfig.enabled = false, hooksConfig.disabled, mcp.excluded, mcp.allowed.
  void gemini_switches();

  Workspace& ws_;
  Report& r_;
  Files files_;
  std::string self_;
  std::string home_;
  std::filesystem::path codex_user_config_path_;
  std::map<std::string, std::pair<std::string, std::size_t>> mcp_cache_;  // argv -> (why, tools)
};

}  // namespace keel::cli::doctor

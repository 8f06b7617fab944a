// keel/cli/config.h — keel.jsonc, the one configuration file.
//
// JSON with comments and trailing commas, read through Boost.JSON. Every key is
// optional (a missing key keeps its default, listed in configs/keel.jsonc);
// an unknown key, a wrong type or an out-of-range value is an error naming the
// key, so a typo never silently falls back to a default.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include <boost/json/value.hpp>

#include "console/console_options.h"
#include "hooks/gate_config.h"
#include "hooks/hooks_config.h"
#include "mcp/server.h"
#include "notify/notify_config.h"
#include "observe/telemetry_config.h"
#include "state/journal_retention.h"
#include "state/store.h"
#include "tools/tools.h"

namespace keel::cli {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Config {
  std::filesystem::path source;  // the file read; empty: built-in defaults

  std::optional<std::filesystem::path> state_dir;  // relative: to the project
  // dir and clock unset; url, node, pg_call_timeout_ms and pg_pool_size as
  // the file says (cli/workspace.h applies --store and the environment).
  state::StoreOptions store;
  // project.id: the project's name in every principal, shared by checkouts
  // of one repository on several machines; empty: the project directory.
  std::string project_id;
  std::int64_t lease_default_ttl_ms = 60'000;

  mcp::ServerOptions server;
  int stdio_workers = 4;

  std::string log_level = "info";

  // The hook policies (`keel hook`, POST /hooks/...), parsed once here into typed structs:
  // the permission gate (section "permission", hooks/gate_config.h; null: built-in catalog, no
  // user rules) and the fail modes, lease gate, budget, guardrail, oracle and self-check
  // (section "hooks", hooks/hooks_config.h; null: built-in defaults). The sections as written
  // are kept beside them.
  ::keel::hooks::GateConfig gate;
  ::keel::hooks::HooksConfig hook_policies;
  boost::json::value permission;
  boost::json::value hooks;

  // keel serve --http. A bearer-token principal acts as `agent` with
  // `capabilities`; without any, keel listens on loopback only.
  struct HttpPrincipal {
    std::string token;
    std::string agent;
    std::set<std::string> capabilities;
  };
  std::map<std::string, HttpPrincipal> http_principals;  // by token name
  std::int64_t http_header_timeout_ms = 10'000;
  std::int64_t http_idle_timeout_ms = 60'000;
  int http_threads = 2;
  // The web console at / (section "http.console") and GET /metrics ("http.metrics").
  console::ConsoleOptions console;
  bool http_metrics = true;

  // Webhooks for keel's events (section "notify") and OTLP traces ("telemetry").
  notify::NotifyConfig notify;
  observe::TelemetryConfig telemetry;

  std::set<std::string> default_capabilities = state::default_agent_capabilities();
  std::map<std::string, std::set<std::string>> agent_capabilities;  // per agent

  // journal.retention: fold old journal records on their own in keel serve,
  // exporting them first (state/journal_retention.h). Off unless max_age or
  // max_records is set; export_dir is then required ("" to keep no copy); a
  // relative export_dir is relative to the project directory.
  state::RetentionOptions journal_retention;

  // fanout_run's limits (section "fanout").
  tools::FanoutLimits fanout;

  // The capabilities of a local agent named `agent`.
  std::set<std::string> capabilities_for(const std::string& agent) const;
};

// Parses config text. `origin` names it in error messages.
Config parse_config(std::string_view text, const std::string& origin);
// Reads and parses a file; ConfigError when it cannot be read or is invalid.
Config load_config_file(const std::filesystem::path& file);

}  // namespace keel::cli

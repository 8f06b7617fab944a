// keel/cli/workspace.h — what every subcommand starts from: the config, the
// project, the state directory, logging, and (on demand) the open store.
//
// Resolution order:
//   config:  --config FILE, $KEEL_CONFIG, <project>/.keel/keel.jsonc if it
//            exists, else built-in defaults (the values of configs/keel.jsonc)
//   project: --project DIR, else the git root above the working directory,
//            else the working directory
//   state:   --state DIR, $KEEL_STATE_DIR, the config's state_dir (relative to
//            the project), else <project>/.keel
//   store:   --store URL, $KEEL_STORE_URL, the config's store.url; empty (the
//            default): the embedded SQLite store in the state directory
//   node:    $KEEL_NODE_ID, the config's node.id, else the host name
//   project id (Principal::project): $KEEL_PROJECT_ID, the config's
//            project.id, else the project directory's path
//
// The store URL may hold a password: it is never logged or printed whole
// (redact_store_url).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "cli/args.h"
#include "cli/config.h"
#include "state/store.h"

namespace keel::cli {

// Options every subcommand accepts.
const std::vector<OptionSpec>& common_options();

class Workspace {
 public:
  // Throws ConfigError / UsageError.
  static Workspace resolve(const Args& args);

  const Config& config() const { return config_; }
  const std::filesystem::path& project() const { return project_; }
  const std::filesystem::path& state_dir() const { return state_dir_; }
  // The project as the store knows it: every principal this keel makes acts
  // in this project. Checkouts of one repository on several machines share
  // leases, memory and journal when they share this id (project.id).
  const std::string& project_id() const { return project_id_; }
  // The store's URL (empty: SQLite) and this process's node id.
  const std::string& store_url() const { return config_.store.url; }
  const std::string& node_id() const { return config_.store.node; }
  // The options store() opens with (dir, url and node resolved).
  state::StoreOptions store_options() const;

  // Opens the store once; later calls return the same one.
  state::Store& store();
  // Before store(): commit with this durability instead of the config's (the
  // hook path journals with NORMAL: it survives a process crash, and a hook
  // must not wait for an fsync).
  void set_synchronous(state::Synchronous sync) { config_.store.synchronous = sync; }
  // Before store(): skip the open-time sweep (short-lived processes).
  void skip_open_maintenance() { config_.store.maintenance_on_open = false; }
  void write_inline() { config_.store.inline_writes = true; }
  // Before store(): every group commit is reported to `f` (metrics, traces).
  void set_commit_observer(std::function<void(const state::CommitSample&)> f) {
    config_.store.on_commit = std::move(f);
  }

  // The principal of the human at the terminal: every capability. `agent`
  // names whose own memory namespace the command reads ("cli" by default).
  state::Principal human(const std::string& agent = "cli",
                         const std::string& session_id = {}) const;

 private:
  Config config_;
  std::filesystem::path project_;
  std::filesystem::path state_dir_;
  std::string project_id_;
  std::unique_ptr<state::Store> store_;
};

// Sends spdlog's default logger to stderr at `level` (stdout stays clean).
void init_logging(const std::string& level);

// `url` with its password (user:PASSWORD@ in a URL, password=... in a
// key=value string) replaced by "***", for messages.
std::string redact_store_url(std::string_view url);

// The working directory this process started in, recorded by run_keel before
// any command runs (`keel hook` moves to the event's directory): a re-exec
// as keel-pg (cli/pg_reexec.cpp) starts from it again, so relative paths on
// the command line mean what they meant. Empty when it was never recorded.
void remember_start_directory();
const std::filesystem::path& start_directory();

// The host name (gethostname), or "localhost" when it cannot be read.
std::string host_name();

// The git root above `dir`, or `dir` when there is none.
std::filesystem::path find_project_root(const std::filesystem::path& dir);

}  // namespace keel::cli

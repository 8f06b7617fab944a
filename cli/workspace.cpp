#include "cli/workspace.h"

#include <cstdlib>
#include <system_error>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace keel::cli {

namespace fs = std::filesystem;

const std::vector<OptionSpec>& common_options() {
  static const std::vector<OptionSpec> options{
      {"state", "DIR", "state directory (default <project>/.keel; env KEEL_STATE_DIR)"},
      {"config", "FILE", "config file (default <project>/.keel/keel.jsonc; env KEEL_CONFIG)"},
      {"project", "DIR", "project root (default: the git root of the working directory)"},
      {"help", "", "show this help"},
  };
  return options;
}

fs::path find_project_root(const fs::path& dir) {
  std::error_code ec;
  fs::path d = fs::weakly_canonical(dir, ec);
  if (ec) d = dir;
  for (fs::path p = d; !p.empty(); p = p.parent_path()) {
    if (fs::exists(p / ".git", ec)) return p;
    if (p == p.root_path()) break;
  }
  return d;
}

void init_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("keel");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ keel: %v");
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

Workspace Workspace::resolve(const Args& args) {
  Workspace w;
  std::error_code ec;
  if (auto p = args.get("project")) {
    if (!fs::is_directory(*p, ec)) throw UsageError("--project " + *p + ": not a directory");
    w.project_ = fs::canonical(*p);
  } else {
    w.project_ = find_project_root(fs::current_path());
  }

  std::optional<fs::path> config_file;
  if (auto c = args.get("config")) {
    config_file = *c;
  } else if (const char* env = std::getenv("KEEL_CONFIG"); env && *env) {
    config_file = env;
  } else if (fs::exists(w.project_ / ".keel" / "keel.jsonc", ec)) {
    config_file = w.project_ / ".keel" / "keel.jsonc";
  }
  if (config_file) w.config_ = load_config_file(*config_file);
  if (const char* env = std::getenv("KEEL_LOG"); env && *env) w.config_.log_level = env;

  if (auto s = args.get("state")) {
    w.state_dir_ = *s;
  } else if (const char* env = std::getenv("KEEL_STATE_DIR"); env && *env) {
    w.state_dir_ = env;
  } else if (w.config_.state_dir) {
    w.state_dir_ = w.config_.state_dir->is_absolute() ? *w.config_.state_dir
                                                      : w.project_ / *w.config_.state_dir;
  } else {
    w.state_dir_ = w.project_ / ".keel";
  }
  w.state_dir_ = fs::absolute(w.state_dir_);
  return w;
}

state::Store& Workspace::store() {
  if (!store_) {
    state::StoreOptions options = config_.store;
    options.dir = state_dir_;
    store_ = state::open_store(options);
  }
  return *store_;
}

state::Principal Workspace::human(const std::string& agent, const std::string& session_id) const {
  const auto& all = state::all_capabilities();
  return state::Principal{agent, project_.string(), session_id,
                          std::set<std::string>(all.begin(), all.end())};
}

}  // namespace keel::cli

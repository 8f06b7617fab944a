#include "cli/workspace.h"

#include <unistd.h>

#include <cctype>
#include <climits>
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
      {"store", "URL",
       "the PostgreSQL store (postgres://...; env KEEL_STORE_URL, config store.url; "
       "default: SQLite in the state directory)"},
      {"help", "", "show this help"},
  };
  return options;
}

std::string redact_store_url(std::string_view url) {
  std::string s(url);
  // scheme://user:password@host...  ->  scheme://user:***@host...
  if (const auto scheme = s.find("://"); scheme != std::string::npos) {
    const std::size_t start = scheme + 3;
    const std::size_t query = s.find('?', start);
    const std::size_t at = s.rfind('@', query == std::string::npos ? s.npos : query);
    if (at != std::string::npos && at > start) {
      const std::size_t colon = s.find(':', start);
      const std::size_t slash = s.find('/', start);
      if (colon < at && (slash == std::string::npos || slash > colon)) {
        s.replace(colon + 1, at - colon - 1, "***");
      }
    }
  }
  // password=... in a query string or a key=value connection string.
  for (std::size_t pos = 0; (pos = s.find("password", pos)) != std::string::npos;) {
    std::size_t v = pos + 8;
    while (v < s.size() && std::isspace(static_cast<unsigned char>(s[v]))) ++v;
    if (v >= s.size() || s[v] != '=') {
      pos += 8;
      continue;
    }
    ++v;
    while (v < s.size() && std::isspace(static_cast<unsigned char>(s[v]))) ++v;
    std::size_t end = v;
    if (end < s.size() && s[end] == '\'') {
      end = s.find('\'', end + 1);
      end = end == std::string::npos ? s.size() : end + 1;
    } else {
      while (end < s.size() && s[end] != '&' && !std::isspace(static_cast<unsigned char>(s[end]))) {
        ++end;
      }
    }
    s.replace(v, end - v, "***");
    pos = v + 3;
  }
  return s;
}

namespace {
fs::path& start_dir() {  // written once by run_keel on the main thread, before any other
  static fs::path dir;
  return dir;
}
}  // namespace

void remember_start_directory() {
  std::error_code ec;
  start_dir() = fs::current_path(ec);
}

const fs::path& start_directory() { return start_dir(); }

std::string host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
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

  // An explicit --store "" selects SQLite over the environment and config.
  if (auto url = args.get("store")) {
    w.config_.store.url = *url;
  } else if (const char* env = std::getenv("KEEL_STORE_URL"); env && *env) {
    w.config_.store.url = env;
  }
  if (const char* env = std::getenv("KEEL_NODE_ID"); env && *env) {
    w.config_.store.node = env;
  } else if (w.config_.store.node.empty()) {
    w.config_.store.node = host_name();
  }
  if (const char* env = std::getenv("KEEL_PROJECT_ID"); env && *env) {
    w.project_id_ = env;
  } else if (!w.config_.project_id.empty()) {
    w.project_id_ = w.config_.project_id;
  } else {
    w.project_id_ = w.project_.string();
  }
  return w;
}

state::StoreOptions Workspace::store_options() const {
  state::StoreOptions options = config_.store;
  options.dir = state_dir_;
  return options;
}

state::Store& Workspace::store() {
  // open_store()'s choice, made here: keel_cli's own reference to
  // open_postgres_store is what pulls the backend (or, in the static keel,
  // cli/pg_reexec.cpp) into the link, which lists keel_state last.
  if (!store_) {
    const state::StoreOptions options = store_options();
    store_ = options.url.empty() ? state::open_sqlite_store(options)
                                 : state::open_postgres_store(options);
  }
  return *store_;
}

state::Principal Workspace::human(const std::string& agent, const std::string& session_id) const {
  const auto& all = state::all_capabilities();
  return state::Principal{agent, project_id_, session_id,
                          std::set<std::string>(all.begin(), all.end())};
}

}  // namespace keel::cli

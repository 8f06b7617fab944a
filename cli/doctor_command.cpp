// keel doctor: checks, for every agent keel is installed into, that the agent
// will really run keel — its settings files parse and point at an executable
// keel, the agent's version runs the hook form written, the agent trusts the
// hooks (Codex) and the workspace (Gemini CLI), keel's MCP server starts and
// lists its tools — and that keel's store opens and its journal verifies.
//
// Files read are exactly those `keel install` writes (install_command.cpp
// edits_for), in project scope (the project root) and user scope ($HOME;
// $CODEX_HOME for Codex). Nothing is written; the MCP server it starts opens
// the project's store, as the agent's would.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "cli/commands.h"
#include "cli/doctor_checks.h"
#include "cli/settings_entries.h"
#include "cli/settings_file.h"
#include "cli/settings_json.h"

extern char** environ;

namespace keel::cli {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

const std::vector<std::string> kAgents = {"claude", "codex", "gemini", "cursor"};
// Claude Code runs exec-form hooks (command + args, no shell) from this version.
const std::vector<int> kClaudeExecForm = {2, 1, 139};

// ---------------------------------------------------------------- findings

enum class Kind { Pass, Problem, Note };

struct Finding {
  std::string agent;  // "claude" … or "keel"
  std::string scope;  // "project", "user" or ""
  std::string check;  // a short id: "config", "mcp_binary", "hooks_trust" …
  Kind kind = Kind::Pass;
  std::string what;
  std::string why;  // problems (and some notes): the reason
  std::string fix;  // problems: what to do
};

class Report {
 public:
  void pass(const std::string& agent, const std::string& scope, const std::string& check, std::string what) {
    add({agent, scope, check, Kind::Pass, std::move(what), {}, {}});
  }
  void problem(const std::string& agent, const std::string& scope, const std::string& check, std::string what,
               std::string why, std::string fix) {
    add({agent, scope, check, Kind::Problem, std::move(what), std::move(why), std::move(fix)});
  }
  void note(const std::string& agent, const std::string& scope, const std::string& check, std::string what) {
    add({agent, scope, check, Kind::Note, std::move(what), {}, {}});
  }
  const std::vector<Finding>& findings() const { return items_; }
  bool any_problem() const {
    return std::any_of(items_.begin(), items_.end(), [](const Finding& f) { return f.kind == Kind::Problem; });
  }

 private:
  void add(Finding f) { items_.push_back(std::move(f)); }
  std::vector<Finding> items_;
};

std::string prefix(const Finding& f) {
  return f.agent + (f.scope.empty() ? "" : " (" + f.scope + ")") + ": ";
}

std::string without_period(std::string s) {
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) s.pop_back();
  return s;
}

void print_text(const Report& r, std::ostream& out) {
  std::size_t problems = 0;
  std::size_t notes = 0;
  for (const auto& f : r.findings()) {
    switch (f.kind) {
      case Kind::Pass: out << "✓ " << prefix(f) << f.what << "\n"; break;
      case Kind::Note:
        ++notes;
        out << "• " << prefix(f) << f.what << "\n";
        break;
      case Kind::Problem:
        ++problems;
        out << "✗ " << prefix(f) << f.what << ": " << without_period(f.why) << ". Fix: " << f.fix << "\n";
        break;
    }
  }
  if (problems == 0) {
    out << "keel doctor: no problems found" << (notes ? " (read the notes above)" : "") << "\n";
  } else {
    out << "keel doctor: " << problems << (problems == 1 ? " problem" : " problems") << "\n";
  }
}

void print_json(const Report& r, std::ostream& out) {
  json::array arr;
  for (const auto& f : r.findings()) {
    json::object o;
    o["agent"] = f.agent;
    o["scope"] = f.scope.empty() ? json::value(nullptr) : json::value(f.scope);
    o["check"] = f.check;
    o["kind"] = f.kind == Kind::Pass ? "pass" : f.kind == Kind::Problem ? "problem" : "note";
    o["ok"] = f.kind != Kind::Problem;
    o["detail"] = f.why.empty() ? f.what : f.what + ": " + without_period(f.why);
    o["fix"] = f.fix.empty() ? json::value(nullptr) : json::value(f.fix);
    arr.push_back(std::move(o));
  }
  out << json::serialize(arr) << "\n";
}

// ---------------------------------------------------------------- processes

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

bool is_executable_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

// `name` on $PATH ("" when absent); a name with a '/' is taken as a path.
std::string find_program(const std::string& name, const fs::path& base) {
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) {
    fs::path p = name;
    if (p.is_relative()) p = base / p;
    return p.lexically_normal().string();
  }
  std::string path = env("PATH").value_or("/usr/local/bin:/usr/bin:/bin");
  std::size_t pos = 0;
  for (;;) {
    std::size_t colon = path.find(':', pos);
    std::string dir = path.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    if (dir.empty()) dir = ".";
    fs::path candidate = fs::path(dir) / name;
    if (is_executable_file(candidate)) return candidate.string();
    if (colon == std::string::npos) break;
    pos = colon + 1;
  }
  return {};
}

// One child process with pipes on its stdin, stdout and stderr, in a process
// group of its own; killed (the group) and reaped on destruction.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { stop(); }

  // Empty on success, else why it could not start.
  std::string start(const std::vector<std::string>& argv, const fs::path& cwd) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return std::strerror(errno);
    if (::pipe2(out, O_CLOEXEC) != 0) {
      close_all({in[0], in[1]});
      return std::strerror(errno);
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
      close_all({in[0], in[1], out[0], out[1]});
      return std::strerror(errno);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&defaults, sig);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    int rc = ::posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close_all({in[0], out[1], err[1]});
    if (rc != 0) {
      close_all({in[1], out[0], err[0]});
      return std::strerror(rc);
    }
    pid_ = pid;
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
    ::fcntl(out_, F_SETFL, ::fcntl(out_, F_GETFL) | O_NONBLOCK);
    ::fcntl(err_, F_SETFL, ::fcntl(err_, F_GETFL) | O_NONBLOCK);
    return {};
  }

  bool send(std::string_view data) {
    while (!data.empty() && in_ >= 0) {
      ssize_t n = ::write(in_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return in_ >= 0;
  }

  void close_stdin() { close_fd(in_); }

  // The next line of stdout (without '\n'); nullopt at end of output or at
  // `deadline`.
  std::optional<std::string> read_line(Clock::time_point deadline) {
    for (;;) {
      if (std::size_t nl = out_buf_.find('\n'); nl != std::string::npos) {
        std::string line = out_buf_.substr(0, nl);
        out_buf_.erase(0, nl + 1);
        return line;
      }
      if (out_ < 0 || !pump(deadline)) return std::nullopt;
    }
  }

  // All of stdout until it closes or `deadline`; timed_out() tells which.
  std::string read_all(Clock::time_point deadline) {
    while (out_ >= 0 && pump(deadline)) {
    }
    return out_buf_;
  }

  bool timed_out() const { return timed_out_; }

  // The last non-empty line the child wrote to stderr.
  std::string last_error_line() const {
    std::string s = err_buf_;
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    std::size_t nl = s.rfind('\n');
    return nl == std::string::npos ? s : s.substr(nl + 1);
  }

  // Waits until `deadline` for the exit; its status, or nullopt.
  std::optional<int> wait_exit(Clock::time_point deadline) {
    while (pid_ > 0) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        status_ = status;
        break;
      }
      if (r < 0 && errno != EINTR) {
        pid_ = -1;
        break;
      }
      if (Clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return status_;
  }

  void stop() {
    close_fd(in_);
    if (pid_ > 0) {
      ::kill(-pid_, SIGTERM);
      if (!wait_exit(Clock::now() + std::chrono::milliseconds(1000))) {
        ::kill(-pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
      }
    }
    close_fd(out_);
    close_fd(err_);
  }

 private:
  static void close_all(std::initializer_list<int> fds) {
    for (int fd : fds) ::close(fd);
  }
  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  // Reads what arrives before `deadline`; false at end of stdout or deadline.
  bool pump(Clock::time_point deadline) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        timed_out_ = true;
        return false;
      }
      pollfd fds[2];
      nfds_t n = 0;
      fds[n++] = pollfd{out_, POLLIN, 0};
      if (err_ >= 0) fds[n++] = pollfd{err_, POLLIN, 0};
      int rc = ::poll(fds, n, static_cast<int>(std::min<long long>(left, 100)));
      if (rc < 0 && errno != EINTR) return false;
      bool got_out = false;
      if (err_ >= 0 && !drain(err_, err_buf_, true)) close_fd(err_);
      std::size_t before = out_buf_.size();
      bool open = drain(out_, out_buf_, false);
      got_out = out_buf_.size() != before;
      if (!open) {
        close_fd(out_);
        return got_out;
      }
      if (got_out) return true;
    }
  }

  // Appends what is readable now; false at end of file.
  static bool drain(int fd, std::string& into, bool tail) {
    char buf[8192];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        into.append(buf, static_cast<std::size_t>(n));
        if (tail && into.size() > 8192) into.erase(0, into.size() - 8192);
        if (!tail && into.size() > (8u << 20)) return false;  // a runaway child
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }

  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  std::string out_buf_, err_buf_;
  bool timed_out_ = false;
  std::optional<int> status_;
};

// `<program> --version`: its first output line, or nullopt (with why).
std::optional<std::string> program_version(const std::string& program, std::string& why) {
  Child c;
  if (std::string e = c.start({program, "--version"}, {}); !e.empty()) {
    why = "cannot run " + program + " --version: " + e;
    return std::nullopt;
  }
  c.close_stdin();
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  std::string out = c.read_all(deadline);
  if (c.timed_out()) {
    why = program + " --version did not answer within 10 s";
    return std::nullopt;
  }
  auto status = c.wait_exit(deadline);
  if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    why = program + " --version failed" + (c.last_error_line().empty() ? "" : ": " + c.last_error_line());
    return std::nullopt;
  }
  std::size_t nl = out.find('\n');
  return nl == std::string::npos ? out : out.substr(0, nl);
}

// Starts an MCP server as an agent does and asks for its tools. Empty on
// success, else why not.
std::string probe_mcp_server(const std::vector<std::string>& argv, const fs::path& cwd, std::size_t& tool_count) {
  std::signal(SIGPIPE, SIG_IGN);
  Child c;
  if (std::string e = c.start(argv, cwd); !e.empty()) return "it does not start: " + e;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  auto request = [](int id, const std::string& method, json::object params) {
    return json::serialize(
               json::object{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}}) +
           "\n";
  };
  auto fail_with = [&](std::string why) {
    std::string err = c.last_error_line();
    return err.empty() ? why : why + " (stderr: " + err + ")";
  };
  c.send(request(1, "initialize",
                 json::object{{"protocolVersion", "2025-11-25"},
                              {"capabilities", json::object()},
                              {"clientInfo", json::object{{"name", "keel-doctor"}, {"version", "1"}}}}));
  int next_id = 2;
  tool_count = 0;
  for (;;) {
    auto line = c.read_line(deadline);
    if (!line) {
      if (c.timed_out()) return fail_with("no answer within 5 s");
      auto status = c.wait_exit(Clock::now() + std::chrono::milliseconds(500));
      std::string how = status && WIFEXITED(*status) ? "it exited with status " + std::to_string(WEXITSTATUS(*status))
                                                     : "it closed its output";
      return fail_with(how + " before answering");
    }
    json::value msg;
    try {
      msg = json::parse(*line);
    } catch (const std::exception&) {
      return fail_with("it wrote something that is not JSON-RPC on stdout: " + line->substr(0, 120));
    }
    if (!msg.is_object()) continue;
    const auto& m = msg.get_object();
    const json::value* id = m.if_contains("id");
    if (!id || !id->is_int64()) continue;  // a notification or a request of the server
    if (const json::value* error = m.if_contains("error")) {
      return fail_with((id->get_int64() == 1 ? "initialize failed: " : "tools/list failed: ") +
                       json::serialize(*error));
    }
    const json::value* result = m.if_contains("result");
    if (!result || !result->is_object()) return fail_with("an answer without a result");
    if (id->get_int64() == 1) {
      c.send(json::serialize(json::object{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}) + "\n");
      c.send(request(next_id++, "tools/list", json::object()));
      continue;
    }
    bool found = false;
    if (const json::value* tools = result->get_object().if_contains("tools"); tools && tools->is_array()) {
      for (const auto& t : tools->get_array()) {
        ++tool_count;
        const json::value* name = t.is_object() ? t.get_object().if_contains("name") : nullptr;
        if (name && name->is_string() && name->get_string() == "lease_acquire") found = true;
      }
    }
    if (found) return {};
    const json::value* cursor = result->get_object().if_contains("nextCursor");
    if (cursor && cursor->is_string() && next_id < 50) {
      c.send(request(next_id++, "tools/list", json::object{{"cursor", cursor->get_string()}}));
      continue;
    }
    return fail_with("tools/list does not include lease_acquire (" + std::to_string(tool_count) +
                     " tools): not keel's server");
  }
}

// ---------------------------------------------------------------- settings files

struct LoadedFile {
  bool exists = false;
  std::string error;  // parse error; empty when it parsed
  json::object root;
};

class Files {
 public:
  const LoadedFile& json_file(const fs::path& p) { return load(p, false); }
  const LoadedFile& toml_file(const fs::path& p) { return load(p, true); }

 private:
  const LoadedFile& load(const fs::path& p, bool toml) {
    auto it = cache_.find(p.string());
    if (it != cache_.end()) return it->second;
    LoadedFile f;
    try {
      if (auto text = read_settings_file(p)) {
        f.exists = true;
        f.root = toml ? doctor::parse_toml(*text, p.string()) : parse_settings_json(*text, p.string()).root;
      }
    } catch (const std::exception& e) {
      f.error = e.what();
    }
    return cache_.emplace(p.string(), std::move(f)).first->second;
  }
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

ScopeSpec scope_spec(const std::string& agent, bool user, const fs::path& base) {
  ScopeSpec s{agent, user ? "user" : "project", base, {}, false, {}, HookLayout::Grouped};
  if (agent == "claude") {
    s.server_file = user ? base / ".claude.json" : base / ".mcp.json";
    s.hooks_file = base / ".claude" / "settings.json";
  } else if (agent == "codex") {
    fs::path dir = base / ".codex";
    if (user) {
      if (auto home = env("CODEX_HOME"); home && !home->empty()) dir = *home;
    }
    s.server_file = dir / "config.toml";
    s.server_toml = true;
    s.hooks_file = dir / "hooks.json";
  } else if (agent == "gemini") {
    s.server_file = base / ".gemini" / "settings.json";
    s.hooks_file = s.server_file;
  } else {
    s.server_file = base / ".cursor" / "mcp.json";
    s.hooks_file = base / ".cursor" / "hooks.json";
    s.layout = HookLayout::Flat;
  }
  return s;
}

// The events keel install gives each agent, the gate's first.
std::vector<std::string> expected_events(const std::string& agent) {
  if (agent == "claude") {
    return {"PreToolUse",         "SessionStart", "UserPromptSubmit", "PostToolUse",
            "PostToolUseFailure", "Stop",         "SubagentStop"};
  }
  if (agent == "codex") return {"PreToolUse", "SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"};
  if (agent == "gemini") return {"BeforeTool", "SessionStart", "BeforeAgent", "AfterTool", "AfterAgent"};
  return {"preToolUse",         "sessionStart", "beforeSubmitPrompt", "postToolUse",
          "postToolUseFailure", "stop",         "subagentStop"};
}

struct KeelHandler {
  std::string event;
  std::size_t group = 0;  // grouped layouts
  std::size_t index = 0;
  json::object group_obj;
  json::object handler;
  bool exec_form = false;
  std::string program;  // what the agent runs
  std::string dialect;  // --dialect's value, "" when absent
};

struct ScopeState {
  std::vector<std::string> broken;  // files that do not parse
  std::optional<json::object> server;
  std::vector<KeelHandler> handlers;
  bool hooks_disabled = false;  // Claude's disableAllHooks
  bool installed() const { return server.has_value() || !handlers.empty(); }
};

KeelHandler describe_handler(const std::string& event, const json::object& handler) {
  KeelHandler h;
  h.event = event;
  h.handler = handler;
  std::vector<std::string> words;
  const json::value* command = handler.if_contains("command");
  std::string cmd = command && command->is_string() ? std::string(command->get_string()) : std::string();
  const json::value* args = handler.if_contains("args");
  if (args && args->is_array()) {
    h.exec_form = true;
    h.program = cmd;
    for (const auto& a : args->get_array()) words.push_back(a.is_string() ? std::string(a.get_string()) : "");
  } else {
    words = leading_shell_words(cmd, 5);
    if (!words.empty()) {
      h.program = words.front();
      words.erase(words.begin());
    }
  }
  for (std::size_t k = 0; k + 1 < words.size(); ++k) {
    if (words[k] == "--dialect") h.dialect = words[k + 1];
  }
  return h;
}

ScopeState inspect(const ScopeSpec& s, Files& files, const std::string& self) {
  ScopeState st;
  const LoadedFile& sf = s.server_toml ? files.toml_file(s.server_file) : files.json_file(s.server_file);
  if (!sf.error.empty()) st.broken.push_back(s.server_file.string());
  const std::string container = s.server_toml ? "mcp_servers" : "mcpServers";
  if (const json::value* servers = sf.root.if_contains(container); servers && servers->is_object()) {
    if (const json::value* keel = servers->get_object().if_contains("keel"); keel && keel->is_object()) {
      st.server = keel->get_object();
    }
  }
  std::string binary = self;
  if (st.server) {
    if (const json::value* c = st.server->if_contains("command"); c && c->is_string()) binary = c->get_string();
  }
  KeelHandlerMatcher keel{binary};
  const LoadedFile& hf = files.json_file(s.hooks_file);
  if (!hf.error.empty() && s.hooks_file != s.server_file) st.broken.push_back(s.hooks_file.string());
  if (const json::value* d = hf.root.if_contains("disableAllHooks"); d && d->is_bool() && d->get_bool()) {
    st.hooks_disabled = s.agent == "claude";
  }
  const json::value* hooks = hf.root.if_contains("hooks");
  if (!hooks || !hooks->is_object()) return st;
  for (const auto& kv : hooks->get_object()) {
    if (!kv.value().is_array()) continue;
    const auto& list = kv.value().get_array();
    for (std::size_t g = 0; g < list.size(); ++g) {
      if (s.layout == HookLayout::Flat) {
        if (!keel.matches(list[g])) continue;
        KeelHandler h = describe_handler(std::string(kv.key()), list[g].get_object());
        h.index = g;
        st.handlers.push_back(std::move(h));
        continue;
      }
      if (!list[g].is_object()) continue;
      const json::value* inner = list[g].get_object().if_contains("hooks");
      if (!inner || !inner->is_array()) continue;
      const auto& handlers = inner->get_array();
      for (std::size_t k = 0; k < handlers.size(); ++k) {
        if (!keel.matches(handlers[k])) continue;
        KeelHandler h = describe_handler(std::string(kv.key()), handlers[k].get_object());
        h.group = g;
        h.index = k;
        h.group_obj = list[g].get_object();
        st.handlers.push_back(std::move(h));
      }
    }
  }
  return st;
}

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string install_fix(const ScopeSpec& s) {
  bool default_scope = (s.agent == "codex") == (s.scope == "user");
  return "run `keel install " + s.agent + (default_scope ? "" : " --scope " + s.scope) + "`";
}

std::string real_path(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(p, ec);
  return ec ? p.string() : r.string();
}

// ---------------------------------------------------------------- the doctor

class Doctor {
 public:
  Doctor(Workspace& ws, Report& report) : ws_(ws), r_(report) {
    std::error_code ec;
    self_ = fs::read_symlink("/proc/self/exe", ec).string();
    home_ = env("HOME").value_or("");
  }

  void agent(const std::string& a, bool asked) {
    std::vector<ScopeSpec> scopes;
    ScopeSpec project = scope_spec(a, false, ws_.project());
    scopes.push_back(project);
    if (!home_.empty()) {
      ScopeSpec user = scope_spec(a, true, home_);
      if (user.server_file != project.server_file || user.hooks_file != project.hooks_file) scopes.push_back(user);
    }
    bool any = false;
    bool exec_form = false;
    for (const auto& s : scopes) {
      ScopeState st = inspect(s, files_, self_);
      if (!st.installed() && st.broken.empty()) continue;
      any = true;
      scope(s, st);
      for (const auto& h : st.handlers) exec_form = exec_form || h.exec_form;
    }
    if (!any) {
      std::string files;
      for (const auto& s : scopes) files += (files.empty() ? "" : ", ") + s.server_file.string();
      if (asked) {
        r_.problem(a, "", "installed", "keel is not installed", "no keel entries in " + files,
                   "run `keel install " + a + "`");
      } else {
        r_.note(a, "", "installed", "keel is not installed (nothing of keel's in " + files + "); skipped");
      }
      return;
    }
    version(a, exec_form);
    if (a == "gemini") {
      gemini_trust();
      gemini_switches();
    }
  }

  void store() {
    try {
      auto& st = ws_.store();
      r_.pass("keel", "", "store", "store opens (" + ws_.state_dir().string() + ")");
      auto v = st.journal_verify(ws_.human());
      if (v.ok) {
        r_.pass("keel", "", "journal", "journal verifies (" + std::to_string(v.records) + " records)");
      } else {
        r_.problem("keel", "", "journal", "the journal does not verify",
                   "broken at seq " + std::to_string(v.first_bad->seq) + " (" + v.first_bad->kind +
                       "): " + v.first_bad->detail,
                   "see `keel journal verify --json`; the journal in " + ws_.state_dir().string() +
                       " was changed outside keel — restore it from a backup");
      }
    } catch (const std::exception& e) {
      r_.problem("keel", "", "store", "the store does not open", e.what(),
                 "check " + ws_.state_dir().string() + " (its permissions, --state, $KEEL_STATE_DIR)");
    }
  }

 private:
  void scope(const ScopeSpec& s, const ScopeState& st) {
    const std::string& a = s.agent;
    // Files parse.
    std::set<std::string> seen;
    for (const fs::path& p : {s.server_file, s.hooks_file}) {
      if (!seen.insert(p.string()).second) continue;
      const LoadedFile& f = (p == s.server_file && s.server_toml) ? files_.toml_file(p) : files_.json_file(p);
      if (!f.error.empty()) {
        r_.problem(a, s.scope, "config", p.string() + " does not parse", f.error,
                   "correct the file (" + a + " cannot read it either), then " + install_fix(s));
      } else if (f.exists) {
        r_.pass(a, s.scope, "config", p.string() + " parses");
      }
    }
    if (!st.installed()) return;

    // The MCP server entry.
    if (!st.server) {
      r_.problem(a, s.scope, "mcp_server", "keel's MCP server is missing",
                 "keel's hooks are there but " + s.server_file.string() + " has no server named keel",
                 install_fix(s));
    } else {
      server(s, *st.server);
    }

    // The hooks.
    if (st.handlers.empty()) {
      r_.problem(a, s.scope, "hooks", "keel's hooks are missing",
                 s.hooks_file.string() + " runs no `keel hook`: no lease gate, no session context",
                 install_fix(s));
    } else {
      hooks(s, st);
    }
    if (st.hooks_disabled) {
      r_.problem(a, s.scope, "hooks", "Claude Code's hooks are all off",
                 s.hooks_file.string() + " sets \"disableAllHooks\": true",
                 "remove disableAllHooks from " + s.hooks_file.string());
    }
    if (a == "codex" && !st.handlers.empty()) codex_trust(s, st);
    if (a == "claude" && s.scope == "project") claude_project(s);
  }

  void server(const ScopeSpec& s, const json::object& server) {
    const std::string& a = s.agent;
    const json::value* c = server.if_contains("command");
    if (!c || !c->is_string() || c->get_string().empty()) {
      r_.problem(a, s.scope, "mcp_binary", "keel's MCP server has no command", s.server_file.string(), install_fix(s));
      return;
    }
    std::string command(c->get_string());
    std::string program = find_program(command, s.base);
    if (program.empty() || !is_executable_file(program)) {
      std::error_code ec;
      std::string why = program.empty() ? command + " is not on PATH"
                        : fs::exists(program, ec) ? program + " is not an executable file"
                                                  : program + " does not exist";
      r_.problem(a, s.scope, "mcp_binary", "keel's MCP server command in " + s.server_file.string() + " cannot run",
                 why, install_fix(s) + " with the keel you use (or --binary PATH)");
      return;
    }
    r_.pass(a, s.scope, "mcp_binary", "MCP server command " + command + " is executable");
    if (const json::value* e = server.if_contains("enabled"); e && e->is_bool() && !e->get_bool()) {
      r_.problem(a, s.scope, "mcp_server", "keel's MCP server is switched off",
                 s.server_file.string() + " sets enabled = false on [mcp_servers.keel]",
                 "remove `enabled = false` from [mcp_servers.keel]");
      return;
    }
    std::vector<std::string> argv{command};
    if (const json::value* args = server.if_contains("args"); args && args->is_array()) {
      for (const auto& x : args->get_array()) {
        argv.push_back(x.is_string() ? std::string(x.get_string()) : json::serialize(x));
      }
    }
    std::string key = join(argv, "\x1f");
    auto it = mcp_cache_.find(key);
    if (it == mcp_cache_.end()) {
      std::size_t tools = 0;
      std::string why = probe_mcp_server(argv, ws_.project(), tools);
      it = mcp_cache_.emplace(key, std::make_pair(why, tools)).first;
    }
    const auto& [why, tools] = it->second;
    if (why.empty()) {
      r_.pass(a, s.scope, "mcp_start",
              "MCP server starts and lists keel's tools (" + std::to_string(tools) +
                  " tools, lease_acquire among them)");
    } else {
      r_.problem(a, s.scope, "mcp_start", "`" + join(argv, " ") + "` does not serve keel's tools", why,
                 "run `" + join(argv, " ") + "` in " + ws_.project().string() +
                     " to see why (check keel's config and state directory)");
    }
  }

  void hooks(const ScopeSpec& s, const ScopeState& st) {
    const std::string& a = s.agent;
    std::map<std::string, std::vector<std::string>> by_program;  // program -> events
    std::vector<std::string> wrong_dialect;
    std::set<std::string> events;
    for (const auto& h : st.handlers) {
      by_program[h.program].push_back(h.event);
      events.insert(h.event);
      if (!h.dialect.empty() && h.dialect != a) wrong_dialect.push_back(h.event + " (--dialect " + h.dialect + ")");
    }
    for (const auto& [program, evs] : by_program) {
      std::string path = find_program(program, s.base);
      if (path.empty() || !is_executable_file(path)) {
        std::error_code ec;
        std::string why = path.empty() ? program + " is not on PATH"
                          : fs::exists(path, ec) ? path + " is not an executable file"
                                                 : path + " does not exist";
        r_.problem(a, s.scope, "hook_binary", "keel's hooks in " + s.hooks_file.string() + " cannot run",
                   why + " (" + join(evs) + ")", install_fix(s) + " with the keel you use (or --binary PATH)");
      } else {
        r_.pass(a, s.scope, "hook_binary",
                std::to_string(evs.size()) + " hooks (" + join(evs) + ") run " + program + ", which is executable");
      }
    }
    if (!wrong_dialect.empty()) {
      r_.problem(a, s.scope, "hook_dialect", "keel's hooks speak another agent's dialect", join(wrong_dialect),
                 install_fix(s));
    }
    std::vector<std::string> missing;
    bool gate_missing = false;
    for (const auto& e : expected_events(a)) {
      if (events.count(e)) continue;
      if (missing.empty() && e == expected_events(a).front()) gate_missing = true;
      missing.push_back(e);
    }
    if (gate_missing) {
      r_.problem(a, s.scope, "hook_events", "keel's lease gate is not hooked",
                 "no keel hook on " + expected_events(a).front() + " in " + s.hooks_file.string() +
                     ": edits go through without a lease check",
                 install_fix(s));
    } else if (!missing.empty()) {
      r_.note(a, s.scope, "hook_events",
              "keel hooks no " + join(missing) + " (keel install adds them; " + install_fix(s) + ")");
    }
  }

  const LoadedFile& codex_user_config() {
    fs::path dir = home_.empty() ? fs::path() : fs::path(home_) / ".codex";
    if (auto h = env("CODEX_HOME"); h && !h->empty()) dir = *h;
    codex_user_config_path_ = dir / "config.toml";
    return files_.toml_file(codex_user_config_path_);
  }

  void codex_trust(const ScopeSpec& s, const ScopeState& st) {
    const LoadedFile& cfg = codex_user_config();
    const std::string cfg_name = codex_user_config_path_.string();
    if (!cfg.error.empty()) {
      r_.problem("codex", s.scope, "hooks_trust", "cannot tell whether Codex trusts keel's hooks",
                 cfg_name + " does not parse: " + cfg.error, "correct " + cfg_name);
      return;
    }
    if (s.scope == "project") {
      std::string dir = ws_.project().string();
      std::string level = doctor::codex_project_trust(cfg.root, dir);
      if (level.empty()) level = doctor::codex_project_trust(cfg.root, real_path(dir));
      if (level != "trusted") {
        r_.problem("codex", s.scope, "project_trust", "Codex does not trust the project",
                   (level.empty() ? std::string("no [projects.\"") + dir + "\"] in " + cfg_name
                                  : "[projects.\"" + dir + "\"] trust_level = \"" + level + "\" in " + cfg_name) +
                       ": Codex ignores " + (ws_.project() / ".codex").string() + " (keel's server and hooks)",
                   "run codex in " + dir + " and trust the project (or `keel install codex` in user scope)");
      } else {
        r_.pass("codex", s.scope, "project_trust", "Codex trusts the project " + dir);
      }
    }
    const std::string hooks_json = real_path(s.hooks_file);
    std::vector<std::string> untrusted, modified, disabled;
    for (const auto& h : st.handlers) {
      std::string key = doctor::codex_hook_key(hooks_json, h.event, h.group, h.index);
      std::string hash = doctor::codex_hook_hash(h.event, h.group_obj, h.handler);
      switch (doctor::codex_hook_trust(cfg.root, key, hash)) {
        case doctor::CodexTrust::Trusted: break;
        case doctor::CodexTrust::Untrusted: untrusted.push_back(h.event); break;
        case doctor::CodexTrust::Modified: modified.push_back(h.event); break;
        case doctor::CodexTrust::Disabled: disabled.push_back(h.event); break;
      }
    }
    if (untrusted.empty() && modified.empty() && disabled.empty()) {
      r_.pass("codex", s.scope, "hooks_trust",
              "Codex trusts keel's " + std::to_string(st.handlers.size()) + " hooks (" + cfg_name + ")");
      return;
    }
    if (!untrusted.empty() || !modified.empty()) {
      std::vector<std::string> parts;
      if (!untrusted.empty()) parts.push_back("untrusted: " + join(untrusted));
      if (!modified.empty()) parts.push_back("changed since trusted: " + join(modified));
      r_.problem("codex", s.scope, "hooks_trust", "Codex does not trust keel's hooks",
                 join(parts, "; ") + " — Codex skips them without a word",
                 "run codex, choose Trust all (or /hooks)");
    }
    if (!disabled.empty()) {
      r_.problem("codex", s.scope, "hooks_trust", "keel's hooks are switched off in Codex",
                 join(disabled) + ": enabled = false under [hooks.state] in " + cfg_name,
                 "turn them on in codex with /hooks");
    }
  }

  void claude_project(const ScopeSpec& s) {
    // Claude Code records a trusted workspace and the project's .mcp.json
    // servers the user turned down in ~/.claude.json.
    if (home_.empty()) return;
    fs::path global = fs::path(home_) / ".claude.json";
    const LoadedFile& g = files_.json_file(global);
    const json::object* projects = nullptr;
    if (const json::value* p = g.root.if_contains("projects"); p && p->is_object()) projects = &p->get_object();
    auto entry = [&](const std::string& dir) -> const json::object* {
      if (!projects) return nullptr;
      const json::value* v = projects->if_contains(dir);
      return v && v->is_object() ? &v->get_object() : nullptr;
    };
    const std::string dir = ws_.project().string();
    if (const json::object* e = entry(dir)) {
      if (const json::value* d = e->if_contains("disabledMcpjsonServers"); d && d->is_array()) {
        for (const auto& name : d->get_array()) {
          if (name.is_string() && name.get_string() == "keel") {
            r_.problem("claude", s.scope, "mcp_approval", "Claude Code has keel's MCP server turned off",
                       "\"keel\" is in disabledMcpjsonServers of " + dir + " in " + global.string(),
                       "enable it with /mcp in claude (or remove it from that list)");
          }
        }
      }
    }
    bool trusted = false;
    for (fs::path d = ws_.project(); !trusted; d = d.parent_path()) {
      const json::object* e = entry(d.string());
      if (const json::value* t = e ? e->if_contains("hasTrustDialogAccepted") : nullptr; t && t->is_bool()) {
        trusted = t->get_bool();
      }
      if (d == d.parent_path()) break;
    }
    if (trusted) {
      r_.pass("claude", s.scope, "workspace_trust", "Claude Code has recorded the workspace as trusted (" +
                                                        global.string() + ")");
    } else {
      // Claude Code 2.1.332 still starts the .mcp.json server and runs the hooks in an
      // untrusted workspace, but ignores the project's permission rules: keel's tools
      // (allowed there by permissions.allow "mcp__keel") are refused, under `claude -p` too.
      r_.problem("claude", s.scope, "workspace_trust",
                 "Claude Code has not been told to trust " + dir,
                 "until then it ignores the project's settings' permission rules, so every keel tool "
                 "call is refused (\"Claude requested permissions to use mcp__keel__...\")",
                 "start claude in " + dir + " once and accept the trust dialog");
    }
  }

  void version(const std::string& a, bool exec_form) {
    if (a == "cursor") {
      r_.note(a, "", "version", "Cursor's version is not checked (keel's Cursor hooks are shell commands)");
      return;
    }
    std::string program = find_program(a, {});
    const std::string need = "keel's exec-form hooks (command + args) need Claude Code 2.1.139 or later";
    if (program.empty()) {
      r_.note(a, "", "version",
              a + " is not on PATH: its version is not checked" +
                  (a == "claude" && exec_form
                       ? " — " + need + " (for an older one: `keel install claude --shell-form`)"
                       : ""));
      return;
    }
    std::string why;
    auto line = program_version(program, why);
    std::vector<int> v = line ? doctor::parse_version(*line) : std::vector<int>{};
    if (!line || v.empty()) {
      r_.note(a, "", "version", line ? program + " --version printed no version: " + *line : why);
      return;
    }
    std::string shown = *line;
    while (!shown.empty() && (shown.back() == '\r' || shown.back() == ' ')) shown.pop_back();
    if (a == "claude" && exec_form && doctor::version_less(v, kClaudeExecForm)) {
      std::string dotted;
      for (int n : v) dotted += (dotted.empty() ? "" : ".") + std::to_string(n);
      r_.problem(a, "", "version", "Claude Code " + dotted + " cannot run keel's hooks", need,
                 "update Claude Code, or run `keel install claude --shell-form`");
      return;
    }
    r_.pass(a, "", "version",
            program + " --version: " + shown + (a == "claude" && exec_form ? " (runs exec-form hooks)" : ""));
  }

  void gemini_trust() {
    doctor::GeminiTrustInput in;
    in.trust_workspace_env = env("GEMINI_CLI_TRUST_WORKSPACE");
    in.restricted_mode_env = env("GEMINI_RESTRICTED_MODE");
    std::string gemini_home = env("GEMINI_CLI_HOME").value_or(home_);
    if (gemini_home.empty()) gemini_home = home_;
    fs::path settings = fs::path(gemini_home) / ".gemini" / "settings.json";
    const LoadedFile& us = files_.json_file(settings);
    const json::value* sec = us.root.if_contains("security");
    const json::value* ft = sec && sec->is_object() ? sec->get_object().if_contains("folderTrust") : nullptr;
    const json::value* en = ft && ft->is_object() ? ft->get_object().if_contains("enabled") : nullptr;
    in.folder_trust_enabled = !(en && en->is_bool() && !en->get_bool());
    fs::path rules_file = env("GEMINI_CLI_TRUSTED_FOLDERS_PATH").value_or("");
    if (rules_file.empty()) rules_file = fs::path(gemini_home) / ".gemini" / "trustedFolders.json";
    const LoadedFile& rf = files_.json_file(rules_file);
    const std::string dir = ws_.project().string();
    const std::string fix = "run gemini in " + dir + " once and choose Trust folder (or /permissions trust)";
    if (!rf.error.empty() && !in.trust_workspace_env && in.restricted_mode_env != "true" && in.folder_trust_enabled) {
      r_.problem("gemini", "", "folder_trust", "Gemini CLI cannot read its trusted folders",
                 rf.error + " — Gemini CLI refuses to start", "correct " + rules_file.string());
      return;
    }
    if (rf.exists && rf.error.empty()) in.rules = rf.root;
    doctor::GeminiTrust t = doctor::gemini_folder_trust(in, dir);
    if (t.trusted) {
      r_.pass("gemini", "", "folder_trust", "Gemini CLI trusts " + dir + " (" + t.why + ")");
    } else if (t.invalid_rules) {
      r_.problem("gemini", "", "folder_trust", "Gemini CLI cannot read its trusted folders", t.why,
                 "correct " + rules_file.string());
    } else {
      r_.problem("gemini", "", "folder_trust", "Gemini CLI does not trust " + dir,
                 t.why + " — `gemini -p` exits 55 and an interactive gemini ignores the project's MCP servers "
                         "and hooks",
                 fix);
    }
  }

  // Gemini CLI settings that silence keel although its entries are there:
  // hooksConfig.enabled = false, hooksConfig.disabled, mcp.excluded, mcp.allowed.
  void gemini_switches() {
    std::string gemini_home = env("GEMINI_CLI_HOME").value_or(home_);
    if (gemini_home.empty()) gemini_home = home_;
    std::vector<fs::path> files{ws_.project() / ".gemini" / "settings.json"};
    if (!gemini_home.empty()) files.push_back(fs::path(gemini_home) / ".gemini" / "settings.json");
    if (files.size() == 2 && files[0] == files[1]) files.pop_back();
    auto list_has = [](const json::value* list, auto&& pred) {
      if (!list || !list->is_array()) return false;
      for (const auto& v : list->get_array()) {
        if (v.is_string() && pred(std::string_view(v.get_string()))) return true;
      }
      return false;
    };
    auto at = [](const json::object& root, std::string_view a, std::string_view b) -> const json::value* {
      const json::value* x = root.if_contains(a);
      return x && x->is_object() ? x->get_object().if_contains(b) : nullptr;
    };
    for (const auto& f : files) {
      const LoadedFile& lf = files_.json_file(f);
      if (!lf.exists || !lf.error.empty()) continue;
      const std::string name = f.string();
      if (const json::value* e = at(lf.root, "hooksConfig", "enabled"); e && e->is_bool() && !e->get_bool()) {
        r_.problem("gemini", "", "hooks_enabled", "Gemini CLI's hooks are switched off",
                   name + " sets hooksConfig.enabled = false", "remove that setting from " + name);
      }
      if (list_has(at(lf.root, "hooksConfig", "disabled"), [](std::string_view n) {
            return n == "keel" || n.find(" hook --dialect gemini") != std::string_view::npos;
          })) {
        r_.problem("gemini", "", "hooks_enabled", "keel's hooks are disabled in Gemini CLI",
                   name + " lists them in hooksConfig.disabled", "remove keel from hooksConfig.disabled in " + name);
      }
      if (list_has(at(lf.root, "mcp", "excluded"), [](std::string_view n) { return n == "keel"; })) {
        r_.problem("gemini", "", "mcp_enabled", "Gemini CLI excludes keel's MCP server",
                   name + " lists \"keel\" in mcp.excluded", "remove it from mcp.excluded in " + name);
      }
      if (const json::value* allowed = at(lf.root, "mcp", "allowed");
          allowed && allowed->is_array() && !list_has(allowed, [](std::string_view n) { return n == "keel"; })) {
        r_.problem("gemini", "", "mcp_enabled", "Gemini CLI does not allow keel's MCP server",
                   name + " has an mcp.allowed list without \"keel\"", "add \"keel\" to mcp.allowed in " + name);
      }
    }
  }

  Workspace& ws_;
  Report& r_;
  Files files_;
  std::string self_;
  std::string home_;
  fs::path codex_user_config_path_;
  std::map<std::string, std::pair<std::string, std::size_t>> mcp_cache_;
};

int run_doctor(const Args& args, Workspace& ws) {
  if (!args.positionals().empty()) throw UsageError("unexpected argument '" + args.positionals()[0] + "'");
  std::vector<std::string> agents = kAgents;
  bool asked = false;
  if (auto a = args.get("agent")) {
    if (std::find(kAgents.begin(), kAgents.end(), *a) == kAgents.end()) {
      throw UsageError("unknown agent '" + *a + "' (claude, codex, gemini, cursor)");
    }
    agents = {*a};
    asked = true;
  }
  Report report;
  Doctor doctor(ws, report);
  for (const auto& a : agents) doctor.agent(a, asked);
  doctor.store();
  if (args.has("json")) {
    print_json(report, std::cout);
  } else {
    print_text(report, std::cout);
  }
  return report.any_problem() ? 1 : 0;
}

}  // namespace

std::vector<Command> doctor_commands() {
  return {Command{
      .words = {"doctor"},
      .usage = "keel doctor [--agent claude|codex|gemini|cursor] [--json]",
      .summary = "check that the agents keel is installed into will really run it",
      .details =
          "For each agent with keel's entries in its settings (the files `keel install` writes,\n"
          "project and user scope), checks that:\n"
          "  - the files parse and name an executable keel (MCP server and every hook);\n"
          "  - the agent's version runs the hooks written (`<agent> --version`; Claude Code's\n"
          "    exec-form hooks need 2.1.139 or later);\n"
          "  - Codex trusts keel's hooks (hooks.state in $CODEX_HOME/config.toml) and, in\n"
          "    project scope, the project; Gemini CLI trusts the folder (trustedFolders.json);\n"
          "  - the MCP server starts in the project and lists keel's tools;\n"
          "and that keel's store opens and its journal verifies. Prints ✓ for each pass,\n"
          "✗ <what>: <why>. Fix: <how> for each problem and • for notes. An agent without\n"
          "keel is skipped with a note. Exit status 1 when there is a problem, else 0.\n"
          "--json prints [{agent, scope, check, kind, ok, detail, fix}] instead.",
      .options = {{"agent", "NAME", "check this agent only (claude, codex, gemini, cursor)"},
                  {"json", "", "machine-readable output"}},
      .run = run_doctor}};
}

}  // namespace keel::cli

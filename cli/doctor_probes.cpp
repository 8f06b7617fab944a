// Running the programs `keel doctor` checks: an agent's `--version`, keel's
// MCP server started as an agent starts it. See doctor_probes.h.
#include "cli/doctor_probes.h"

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
#include <thread>

#include <boost/json.hpp>

extern char** environ;

namespace keel::cli::doctor {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

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

}  // namespace

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

std::string cannot_run(const std::string& program, const fs::path& base) {
  std::string found = find_program(program, base);
  if (found.empty()) return program + " is not on PATH";
  if (is_executable_file(found)) return {};
  std::error_code ec;
  return fs::exists(found, ec) ? found + " is not an executable file" : found + " does not exist";
}

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

}  // namespace keel::cli::doctor

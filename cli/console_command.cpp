// keel console [--stop] — the web console of the project on loopback: starts
// `keel serve --http 127.0.0.1:0` in the background (detached, its log in
// <state>/console.log), or finds the one already running, and prints its URL.
//
// The running console is recorded in <state>/console.json {"url", "pid"}: it is
// reused when that pid is alive and GET <url>console/api/session answers. The
// server tells its URL and pid through $KEEL_CONSOLE_URL_FILE (cli/serve_console.cpp).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "cli/commands.h"
#include "net/http_client.h"

namespace keel::cli {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

struct Running {
  std::string url;
  pid_t pid = 0;
};

fs::path record_path(const Workspace& ws) { return ws.state_dir() / "console.json"; }

std::optional<Running> read_record(const Workspace& ws) {
  std::ifstream in(record_path(ws));
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(ss.str(), ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto* url = v.as_object().if_contains("url");
  const auto* pid = v.as_object().if_contains("pid");
  if (url == nullptr || !url->is_string() || pid == nullptr || !pid->is_int64()) return std::nullopt;
  return Running{std::string(url->get_string()), static_cast<pid_t>(pid->get_int64())};
}

bool alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

// The console at `url` answers its session endpoint.
bool answers(const std::string& url) {
  net::HttpClientRequest q;
  q.method = "GET";
  q.url = url + "console/api/session";
  q.content_type.clear();
  q.timeout = 2000ms;
  return net::http_request(q).status == 200;
}

std::optional<Running> find_running(const Workspace& ws) {
  auto r = read_record(ws);
  if (!r || !alive(r->pid) || !answers(r->url)) return std::nullopt;
  return r;
}

// The server process: `keel serve --http 127.0.0.1:0` for this project,
// detached (its own session), stdin from /dev/null, stdout and stderr to `log`.
pid_t spawn_server(const Workspace& ws, const Args& args, const fs::path& log, const fs::path& url_file) {
  std::error_code ec;
  const std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) throw std::runtime_error("console: cannot find the keel binary: " + ec.message());
  std::vector<std::string> argv{self, "serve", "--http", "127.0.0.1:0", "--project", ws.project().string(),
                                "--state", ws.state_dir().string()};
  for (const char* opt : {"config", "store"}) {
    if (auto v = args.get(opt)) {
      argv.push_back(std::string("--") + opt);
      argv.push_back(*v);
    }
  }
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("console: fork failed");
  if (pid == 0) {
    // The child: a second fork, so the server is nobody's child to reap.
    ::setsid();
    const pid_t grandchild = ::fork();
    if (grandchild != 0) ::_exit(grandchild < 0 ? 1 : 0);
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in >= 0) ::dup2(in, 0);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    ::setenv("KEEL_CONSOLE_URL_FILE", url_file.c_str(), 1);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    ::execv(self.c_str(), cargv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

int run_console(const Args& args, Workspace& ws) {
  fs::create_directories(ws.state_dir());
  if (args.has("stop")) {
    // Only our server is stopped: the recorded pid may have been reused by
    // another process since, so the recorded URL must answer as a console.
    auto r = find_running(ws);
    if (!r) {
      std::cerr << "keel console: no console running for this project\n";
      fs::remove(record_path(ws));
      return 1;
    }
    ::kill(r->pid, SIGTERM);
    for (int i = 0; i < 100 && alive(r->pid); ++i) std::this_thread::sleep_for(50ms);
    fs::remove(record_path(ws));
    std::cerr << "keel console: stopped " << r->url << " (pid " << r->pid << ")\n";
    return 0;
  }
  // One `keel console` at a time decides whether to start a server.
  const int lock_fd = ::open((ws.state_dir() / "console.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX) != 0) {
    std::cerr << "keel console: cannot lock " << (ws.state_dir() / "console.lock").string() << "\n";
    return 1;
  }
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }
  } unlock{lock_fd};
  if (auto r = find_running(ws)) {
    std::cout << r->url << "\n";
    return 0;
  }
  const fs::path url_file = ws.state_dir() / "console.url";
  fs::remove(url_file);
  spawn_server(ws, args, ws.state_dir() / "console.log", url_file);
  // The server writes "<url>\n<pid>\n" once listening.
  std::string url;
  std::string pid_text;
  for (int i = 0; i < 200 && url.empty(); ++i) {  // 10 s
    std::ifstream in(url_file);
    if (in && std::getline(in, url) && std::getline(in, pid_text)) break;
    url.clear();
    std::this_thread::sleep_for(50ms);
  }
  if (url.empty()) {
    std::cerr << "keel console: the server did not start; see " << (ws.state_dir() / "console.log").string()
              << "\n";
    return 1;
  }
  const std::int64_t pid = std::stoll(pid_text);
  fs::remove(url_file);
  {
    std::ofstream out(record_path(ws), std::ios::trunc);
    out << json::serialize(json::object{{"url", url}, {"pid", pid}}) << "\n";
  }
  std::cout << url << "\n";
  return 0;
}

}  // namespace

std::vector<Command> console_commands() {
  return {Command{
      .words = {"console"},
      .usage = "keel console [--stop]",
      .summary = "open the web console of the project: prints its URL (starts it on loopback if needed)",
      .details = "Runs `keel serve --http 127.0.0.1:0` for the project in the background (its log:\n"
                 "<state>/console.log) unless one is already running, and prints its URL.\n"
                 "--stop stops it.",
      .options = {{"stop", "", "stop the running console"}},
      .run = run_console}};
}

}  // namespace keel::cli

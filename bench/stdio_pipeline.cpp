// bench/stdio_pipeline.cpp — drives MCP servers over stdio (newline-delimited
// JSON-RPC on pipes) fast enough that the figure is the server's, not the
// driver's.
//
// Mode "pipeline" (the default): spawns ONE server (the command after `--`),
// sends `initialize`, `notifications/initialized` and one `memory_put` of the
// key "bench", then --calls `tools/call memory_get {key:"bench"}` with up to
// --window requests in flight (window 1 = plain round trips; 32 or 64 keeps
// the server's input queue full, so wall time / calls is what one call costs
// the server). Every answer is checked: its id is one in flight, it has no
// JSON-RPC error, no isError, and its structuredContent says "found":true.
// The server's CPU time (utime + stime of its process, all threads, from
// /proc/PID/stat) is read before and after the timed calls. One JSON line:
//   {"mode":"pipeline","calls":N,"window":W,"seconds":S,"calls_per_s":..,
//    "us_per_call":..,"p50_us":..,"p99_us":..,"max_us":..,"errors":E,
//    "server_cpu_s":..,"server_cpu_us_per_call":..,"driver_cpu_s":..}
//
// Mode "fanin" (--fanin): spawns --clients copies of the command (each its own
// process, all sharing whatever the environment points them at, e.g. one
// KEEL_STATE_DIR or one MEMORY_FILE_PATH) and drives each with one sequential
// client for --seconds: client c writes keys PREFIX-c<c>-<i> for i = 0, 1, ...
// and sends write i+1 only when write i was acknowledged. --write keel sends
// `memory_put {key, value}`; --write entities sends server-memory's
// `create_entities {entities:[{name, entityType:"note", observations:[..]}]}`.
// An acknowledgement is an answer without error or isError; a failed write is
// counted in "errors" and the client moves on to the next key. After the time
// is up every client waits for its write in flight, closes the server's stdin
// and the driver waits for the processes to exit. One JSON line:
//   {"mode":"fanin","clients":C,"seconds":S,"acked":[per client],
//    "acked_total":A,"ops_per_s":A/S,"errors":E,"first_error":"..",
//    "p50_ms":..,"p99_ms":..,"server_cpu_s":..,"driver_cpu_s":..}
// Client c's acknowledged keys are exactly PREFIX-c<c>-0 .. -<acked[c]-1> when
// errors is 0; with errors, "failed" lists the indexes that were not
// acknowledged, so a checker can tell acknowledged writes from the rest.
//
// The driver is one thread with poll(2) over all pipes: per call it formats
// one line and parses one answer with Boost.JSON (a few µs), so it stays far
// from the servers' cost; "driver_cpu_s" says how much CPU it used.
//
// Usage: stdio_pipeline [--calls N] [--window W] [--warmup K] [--seconds MAX]
//                       [--server-stderr FILE] -- COMMAND ARGS...
//        stdio_pipeline --fanin [--clients C] [--seconds T] [--write keel|entities]
//                       [--prefix P] [--server-stderr FILE] -- COMMAND ARGS...

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "bench/bench_util.h"

extern char** environ;

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kSynopsis =
    "usage: stdio_pipeline [--calls N] [--window W] [--warmup K] [--seconds MAX] [--server-stderr FILE]"
    " -- COMMAND ARGS...\n"
    "       stdio_pipeline --fanin [--clients C] [--seconds T] [--write keel|entities] [--prefix P]"
    " [--server-stderr FILE] -- COMMAND ARGS...\n";

[[noreturn]] void usage(const std::string& why) { keel::bench::usage_exit("stdio_pipeline", why, kSynopsis); }

[[noreturn]] void die(const std::string& why) {
  std::cerr << "stdio_pipeline: " << why << "\n";
  std::exit(1);
}

struct Options {
  bool fanin = false;
  long calls = 20000;
  long window = 1;
  long warmup = 200;
  double seconds = 60;  // pipeline: the most the timed calls may take; fanin: the run time
  long clients = 16;
  std::string write = "keel";
  std::string prefix = "fanin";
  std::string server_stderr = "/dev/null";
  std::vector<std::string> command;
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// utime + stime of every thread of `pid`, in seconds (fields 14 and 15 of
// /proc/PID/stat, counted after the parenthesised command name).
double process_cpu_s(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double own_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

// One server process and the line protocol over its pipes.
class Server {
 public:
  Server(const std::vector<std::string>& command, const std::string& stderr_path) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) die("pipe: " + std::string(strerror(errno)));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    std::vector<char*> argv;
    for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int rc = posix_spawnp(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) die("spawn " + command[0] + ": " + strerror(rc));
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
    fcntl(to_, F_SETFL, O_NONBLOCK);
    fcntl(from_, F_SETFL, O_NONBLOCK);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  pid_t pid() const { return pid_; }
  int read_fd() const { return from_; }
  int write_fd() const { return to_; }
  bool wants_write() const { return sent_ < out_.size(); }

  void queue(std::string_view line) {
    out_.append(line);
    out_.push_back('\n');
  }

  // Writes what the pipe takes now.
  void flush_some() {
    while (sent_ < out_.size()) {
      ssize_t n = ::write(to_, out_.data() + sent_, out_.size() - sent_);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        die("write to the server: " + std::string(strerror(errno)));
      }
      sent_ += static_cast<std::size_t>(n);
    }
    out_.clear();
    sent_ = 0;
  }

  // Reads what is there and hands each complete line to on_line; false at EOF.
  template <class OnLine>
  bool read_some(const OnLine& on_line) {
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(from_, buf, sizeof buf);
      if (n == 0) return false;
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return true;
        die("read from the server: " + std::string(strerror(errno)));
      }
      in_.append(buf, static_cast<std::size_t>(n));
      std::size_t start = 0;
      for (auto nl = in_.find('\n', start); nl != std::string::npos; nl = in_.find('\n', start)) {
        on_line(std::string_view(in_).substr(start, nl - start));
        start = nl + 1;
      }
      in_.erase(0, start);
    }
  }

  // Closes stdin (the MCP stdio way to end a session) and reaps the process;
  // kills it after 10 s.
  int close_and_wait() {
    if (to_ >= 0) ::close(to_);
    to_ = -1;
    int status = 0;
    for (int i = 0; i < 1000; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) return status;
      usleep(10000);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    return status;
  }

  ~Server() {
    if (to_ >= 0) close_and_wait();
    if (from_ >= 0) ::close(from_);
  }

 private:
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::string out_;
  std::size_t sent_ = 0;
  std::string in_;
};

// Blocks in poll(2) on the servers' pipes for up to timeout_ms.
void wait_io(const std::vector<Server*>& servers, int timeout_ms) {
  std::vector<pollfd> fds;
  for (auto* s : servers) {
    fds.push_back({s->read_fd(), POLLIN, 0});
    if (s->wants_write()) fds.push_back({s->write_fd(), POLLOUT, 0});
  }
  if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) die("poll: " + std::string(strerror(errno)));
}

std::string request(std::int64_t id, std::string_view method, const json::value& params) {
  json::object o{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
  return json::serialize(o);
}

std::string tool_call(std::int64_t id, std::string_view name, const json::value& args) {
  return request(id, "tools/call", json::object{{"name", name}, {"arguments", args}});
}

// What went wrong with an answer, or "" when it is a success.
std::string problem_of(const json::object& m, bool want_found) {
  if (auto* e = m.if_contains("error")) return "error: " + json::serialize(*e);
  auto* r = m.if_contains("result");
  if (!r || !r->is_object()) return "no result";
  const auto& res = r->as_object();
  if (auto* ie = res.if_contains("isError"); ie && ie->is_bool() && ie->as_bool())
    return "isError: " + json::serialize(res).substr(0, 300);
  if (want_found) {
    auto* sc = res.if_contains("structuredContent");
    auto* f = sc && sc->is_object() ? sc->as_object().if_contains("found") : nullptr;
    if (!f || !f->is_bool() || !f->as_bool()) return "not found: " + json::serialize(res).substr(0, 300);
  }
  return "";
}

// Parses an answer line into m and its id; false for a notification, a
// request from the server or a line that is not JSON.
bool parse_answer(std::string_view line, json::object& m, std::int64_t& id) {
  boost::system::error_code ec;
  auto v = json::parse(line, ec);
  if (ec || !v.is_object()) return false;
  m = std::move(v.as_object());
  auto* i = m.if_contains("id");
  if (!i || !i->is_int64()) return false;
  id = i->as_int64();
  return true;
}

// Sends one request and waits (up to 30 s) for its answer.
json::object call_blocking(Server& s, std::int64_t id, const std::string& line) {
  s.queue(line);
  json::object answer;
  bool got = false;
  auto t0 = Clock::now();
  std::vector<Server*> one{&s};
  while (!got) {
    s.flush_some();
    if (seconds_since(t0) > 30) die("no answer to " + line.substr(0, 120));
    wait_io(one, 100);
    bool open = s.read_some([&](std::string_view l) {
      json::object m;
      std::int64_t got_id = 0;
      if (parse_answer(l, m, got_id) && got_id == id) {
        answer = std::move(m);
        got = true;
      }
    });
    if (!open && !got) die("the server exited before answering " + line.substr(0, 120));
  }
  return answer;
}

void initialize(Server& s, std::int64_t& next_id) {
  auto init = call_blocking(
      s, next_id, request(next_id, "initialize",
                          json::object{{"protocolVersion", "2025-11-25"},
                                       {"capabilities", json::object{}},
                                       {"clientInfo", json::object{{"name", "keel-bench"}, {"version", "1.0.0"}}}}));
  ++next_id;
  if (auto p = problem_of(init, false); !p.empty()) die("initialize: " + p);
  s.queue(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
}

int run_pipeline(const Options& o) {
  Server s(o.command, o.server_stderr);
  std::int64_t next_id = 1;
  initialize(s, next_id);
  auto put = call_blocking(s, next_id, tool_call(next_id, "memory_put",
                                                 json::object{{"key", "bench"},
                                                              {"value", json::object{{"note", "keel bench value"},
                                                                                     {"n", 1}}}}));
  ++next_id;
  if (auto p = problem_of(put, false); !p.empty()) die("memory_put: " + p);

  const json::object get_args{{"key", "bench"}};
  std::map<std::int64_t, Clock::time_point> in_flight;
  std::vector<double> lat_us;
  long errors = 0;
  std::string first_error;
  std::vector<Server*> one{&s};

  // Runs `count` calls with the window full; returns the wall seconds.
  auto run = [&](long count, bool timed, double max_s) {
    long sent = 0, done = 0;
    auto t0 = Clock::now();
    while (done < count) {
      while (sent < count && static_cast<long>(in_flight.size()) < o.window) {
        s.queue(tool_call(next_id, "memory_get", get_args));
        in_flight.emplace(next_id++, Clock::now());
        ++sent;
      }
      s.flush_some();
      wait_io(one, 100);
      auto now = Clock::now();
      bool open = s.read_some([&](std::string_view line) {
        json::object m;
        std::int64_t id = 0;
        if (!parse_answer(line, m, id)) return;  // a notification
        auto it = in_flight.find(id);
        if (it == in_flight.end()) {
          ++errors;
          if (first_error.empty()) first_error = "answer to an id not in flight: " + std::string(line.substr(0, 200));
          return;
        }
        if (auto p = problem_of(m, true); !p.empty()) {
          ++errors;
          if (first_error.empty()) first_error = p;
        }
        if (timed) lat_us.push_back(std::chrono::duration<double, std::micro>(now - it->second).count());
        in_flight.erase(it);
        ++done;
      });
      if (!open) die("the server exited during the calls");
      if (seconds_since(t0) > max_s) {
        if (seconds_since(t0) > max_s + 30) die("the calls in flight were not answered within 30 s");
        count = sent;  // stop sending; drain what is in flight
      }
    }
    return seconds_since(t0);
  };

  run(o.warmup, false, 30);
  double cpu0 = process_cpu_s(s.pid());
  double drv0 = own_cpu_s();
  double wall = run(o.calls, true, o.seconds);
  double cpu = process_cpu_s(s.pid()) - cpu0;
  double drv = own_cpu_s() - drv0;
  s.close_and_wait();

  auto calls = static_cast<double>(lat_us.size());
  auto summary = keel::bench::summarize({lat_us});
  json::object out{{"mode", "pipeline"},
                   {"calls", lat_us.size()},
                   {"window", o.window},
                   {"seconds", wall},
                   {"calls_per_s", calls / wall},
                   {"us_per_call", wall * 1e6 / calls},
                   {"p50_us", summary.p50},
                   {"p99_us", summary.p99},
                   {"max_us", summary.max},
                   {"errors", errors},
                   {"first_error", first_error},
                   {"server_cpu_s", cpu},
                   {"server_cpu_us_per_call", cpu * 1e6 / calls},
                   {"driver_cpu_s", drv}};
  std::cout << json::serialize(out) << "\n";
  return errors == 0 ? 0 : 1;
}

struct FaninClient {
  std::unique_ptr<Server> server;
  std::int64_t next_id = 1;
  long index = 0;          // the next key index to write
  long acked = 0;
  std::vector<long> failed;  // key indexes that were not acknowledged
  std::int64_t waiting_id = -1;
  long waiting_index = -1;
  Clock::time_point sent_at;
  bool done = false;
};

int run_fanin(const Options& o) {
  std::vector<FaninClient> clients(static_cast<std::size_t>(o.clients));
  for (auto& c : clients) c.server = std::make_unique<Server>(o.command, o.server_stderr);
  for (auto& c : clients) initialize(*c.server, c.next_id);

  const std::string text(100, 'x');
  auto write_line = [&](std::size_t ci, FaninClient& c) {
    std::string key = o.prefix + "-c" + std::to_string(ci) + "-" + std::to_string(c.index);
    if (o.write == "keel")
      return tool_call(c.next_id, "memory_put",
                       json::object{{"key", key}, {"value", json::object{{"text", text}, {"n", c.index}}}});
    return tool_call(c.next_id, "create_entities",
                     json::object{{"entities", json::array{json::object{{"name", key},
                                                                        {"entityType", "note"},
                                                                        {"observations", json::array{text}}}}}});
  };
  auto send_next = [&](std::size_t ci, FaninClient& c) {
    c.server->queue(write_line(ci, c));
    c.waiting_id = c.next_id++;
    c.waiting_index = c.index++;
    c.sent_at = Clock::now();
  };

  std::vector<double> lat_ms;
  long errors = 0;
  std::string first_error;
  std::vector<double> cpu_before;
  for (auto& c : clients) cpu_before.push_back(process_cpu_s(c.server->pid()));
  double drv0 = own_cpu_s();
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < clients.size(); ++i) send_next(i, clients[i]);

  std::vector<Server*> live;
  double wall = 0;
  for (;;) {
    live.clear();
    for (auto& c : clients)
      if (!c.done) live.push_back(c.server.get());
    if (live.empty()) break;
    for (auto* s : live) s->flush_some();
    wait_io(live, 100);
    const bool time_up = seconds_since(t0) >= o.seconds;
    if (seconds_since(t0) > o.seconds + 60) die("writes in flight were not answered within 60 s of the end");
    for (std::size_t ci = 0; ci < clients.size(); ++ci) {
      auto& c = clients[ci];
      if (c.done) continue;
      bool answered = false;
      bool open = c.server->read_some([&](std::string_view line) {
        json::object m;
        std::int64_t id = 0;
        if (!parse_answer(line, m, id) || id != c.waiting_id) return;
        lat_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - c.sent_at).count());
        if (auto p = problem_of(m, false); p.empty()) {
          ++c.acked;
        } else {
          ++errors;
          c.failed.push_back(c.waiting_index);
          if (first_error.empty()) first_error = p;
        }
        answered = true;
      });
      if (!open && !answered) die("server " + std::to_string(ci) + " exited during the run");
      if (!answered) continue;
      if (time_up) {
        c.done = true;
        wall = std::max(wall, seconds_since(t0));
      } else {
        send_next(ci, c);
      }
    }
  }
  double cpu = 0;
  for (std::size_t i = 0; i < clients.size(); ++i)
    cpu += process_cpu_s(clients[i].server->pid()) - cpu_before[i];
  double drv = own_cpu_s() - drv0;
  for (auto& c : clients) c.server->close_and_wait();

  json::array acked, failed;
  long total = 0;
  for (auto& c : clients) {
    acked.push_back(c.acked);
    total += c.acked;
    json::array f;
    for (long i : c.failed) f.push_back(i);
    failed.push_back(f);
  }
  auto summary = keel::bench::summarize({lat_ms});
  json::object out{{"mode", "fanin"},
                   {"clients", o.clients},
                   {"write", o.write},
                   {"seconds", wall},
                   {"acked", acked},
                   {"acked_total", total},
                   {"ops_per_s", static_cast<double>(total) / wall},
                   {"errors", errors},
                   {"first_error", first_error},
                   {"failed", failed},
                   {"p50_ms", summary.p50},
                   {"p99_ms", summary.p99},
                   {"max_ms", summary.max},
                   {"server_cpu_s", cpu},
                   {"driver_cpu_s", drv}};
  std::cout << json::serialize(out) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  Options o;
  int dashdash = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--") {
      dashdash = i;
      break;
    }
  keel::bench::parse_flags(dashdash, argv, usage, [&](const std::string& a, auto next) {
    if (a == "--fanin") o.fanin = true;
    else if (a == "--calls") o.calls = std::stol(next());
    else if (a == "--window") o.window = std::stol(next());
    else if (a == "--warmup") o.warmup = std::stol(next());
    else if (a == "--seconds") o.seconds = std::stod(next());
    else if (a == "--clients") o.clients = std::stol(next());
    else if (a == "--write") o.write = next();
    else if (a == "--prefix") o.prefix = next();
    else if (a == "--server-stderr") o.server_stderr = next();
    else if (a == "-h" || a == "--help") usage("");
    else usage("unknown flag " + a);
  });
  for (int i = dashdash + 1; i < argc; ++i) o.command.emplace_back(argv[i]);
  if (o.command.empty()) usage("no server command after --");
  if (o.calls < 1 || o.window < 1 || o.warmup < 0 || o.clients < 1 || o.seconds <= 0) usage("counts must be positive");
  if (o.write != "keel" && o.write != "entities") usage("--write is keel or entities");
  return o.fanin ? run_fanin(o) : run_pipeline(o);
}

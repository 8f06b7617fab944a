// bench/take_bench.cpp — memory as a work queue (issue 20): keel's
// memory_take beside Redis's BLPOP / BLMOVE doing the same job, in one run.
//
// Take throughput: a queue of --entries items is filled first (keel: an
// orchestrator `keel serve --stdio` puts them with memory_txn, 64 per call;
// Redis: RPUSH, 64 per call), then --workers clients take until it is empty,
// each with one call in flight: keel — one `keel serve --stdio` process per
// worker, all on one store, calling memory_take {prefix, wait_ms: 0}; Redis —
// one connection per worker, BLPOP q (take and forget, as memory_take), or
// BLMOVE q processing LEFT RIGHT + LREM processing (the reliable-queue form:
// an item is never only in a dead worker's hands). Every item must be taken
// exactly once: the driver counts the distinct items and fails otherwise.
// takes/s = entries / (first take sent .. last item received).
//
// Wake latency: a waiter blocks, then a writer on another connection puts one
// item; the figure is from the put being sent to the waiter's answer being
// read. keel "across processes": the waiter is one `keel serve` process
// (memory_take {key, wait_ms}) and the writer another (memory_put): woken
// within the store's poll interval (memory_poll_ms, 100 ms), or by NOTIFY on
// PostgreSQL. keel "same process": waiter and writer are two requests on one
// server (woken at once). Redis: BLPOP on one connection, LPUSH on another.
// Each sample waits --settle-ms (plus 0..99 ms, spread over the samples)
// after sending the wait so the waiter is blocked when the put comes.
//
// --rounds R repeats everything R times (keel and Redis alternating first) and
// prints medians; one JSON line:
//   {"entries":N,"workers":W,"rounds":R,
//    "keel_takes_per_s":..,"keel_take_p50_ms":..,"keel_take_p99_ms":..,
//    "redis_<name>_blpop_takes_per_s":..,"redis_<name>_blmove_takes_per_s":..,
//    "keel_wake_cross_p50_ms":..,"keel_wake_same_p50_ms":..,
//    "redis_<name>_wake_p50_ms":.., "per_round":{...}}
// (one set of redis_* figures per --redis NAME=PORT).
//
// Usage: take_bench --keel BIN --state DIR [--store URL] [--redis NAME=PORT]...
//                   [--entries 10000] [--workers 16] [--wake 30] [--settle-ms 30]
//                   [--rounds 3] [--server-stderr FILE]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "bench/bench_util.h"

extern char** environ;

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kSynopsis =
    "usage: take_bench --keel BIN --state DIR [--store URL] [--redis NAME=PORT]... [--entries N]\n"
    "                  [--workers W] [--wake N] [--settle-ms MS] [--rounds R] [--server-stderr FILE]\n";

[[noreturn]] void usage(const std::string& why) { keel::bench::usage_exit("take_bench", why, kSynopsis); }

struct Options {
  std::string keel;
  std::string state;
  std::string store;
  std::vector<std::pair<std::string, int>> redis;  // name, port
  long entries = 10000;
  long workers = 16;
  long wake = 30;
  long settle_ms = 30;
  long rounds = 3;
  std::string server_stderr = "/dev/null";
};

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) { return keel::bench::percentile(v, 50); }

// One `keel serve --stdio` process, driven by blocking round trips from one
// thread at a time (send_line / read_answer may be split across two threads:
// one writes while another waits for an answer, as the wake samples do).
class KeelServer {
 public:
  KeelServer(const Options& o, const std::string& agent) {
    std::vector<std::string> cmd{o.keel, "serve", "--stdio", "--agent", agent, "--state", o.state};
    if (!o.store.empty()) {
      cmd.push_back("--store");
      cmd.push_back(o.store);
    }
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, o.server_stderr.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    std::vector<char*> argv;
    for (auto& a : cmd) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("spawn " + o.keel + ": " + strerror(rc));
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
    call("initialize", json::object{{"protocolVersion", "2025-11-25"},
                                    {"capabilities", json::object{}},
                                    {"clientInfo", {{"name", "take-bench"}, {"version", "1"}}}});
    send_line(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }
  KeelServer(const KeelServer&) = delete;
  KeelServer& operator=(const KeelServer&) = delete;
  ~KeelServer() {
    ::close(to_);
    int status = 0;
    for (int i = 0; i < 1000 && waitpid(pid_, &status, WNOHANG) != pid_; ++i) usleep(10000);
    if (kill(pid_, 0) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    ::close(from_);
  }

  // Sends a tools/call; returns its id.
  std::int64_t send_tool(std::string_view name, json::object args) {
    const std::int64_t id = next_id_++;
    json::object msg{{"jsonrpc", "2.0"},
                     {"id", id},
                     {"method", "tools/call"},
                     {"params", {{"name", name}, {"arguments", std::move(args)}}}};
    send_line(json::serialize(msg));
    return id;
  }

  // Reads answers until the one with `id`; returns its structuredContent.
  // Throws on an error or isError. Answers to other ids are kept.
  json::object read_answer(std::int64_t id) {
    for (;;) {
      if (auto it = answers_.find(id); it != answers_.end()) {
        json::object m = std::move(it->second);
        answers_.erase(it);
        if (m.contains("error")) throw std::runtime_error("keel: " + json::serialize(m["error"]));
        auto& result = m["result"].as_object();
        if (auto* e = result.if_contains("isError"); e && e->is_bool() && e->as_bool()) {
          throw std::runtime_error("keel: " + json::serialize(result).substr(0, 400));
        }
        if (auto* sc = result.if_contains("structuredContent")) return sc->as_object();
        return result;
      }
      read_more();
    }
  }

  json::object tool(std::string_view name, json::object args) {
    return read_answer(send_tool(name, std::move(args)));
  }

 private:
  json::object call(std::string_view method, json::object params) {
    const std::int64_t id = next_id_++;
    send_line(json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}));
    return read_answer(id);
  }

  void send_line(std::string line) {
    line.push_back('\n');
    std::lock_guard lock(write_mu_);
    for (std::size_t sent = 0; sent < line.size();) {
      const ssize_t n = ::write(to_, line.data() + sent, line.size() - sent);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("write to keel failed");
      sent += static_cast<std::size_t>(n);
    }
  }

  void read_more() {
    char buf[1 << 16];
    const ssize_t n = ::read(from_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) throw std::runtime_error("keel exited (see --server-stderr)");
    in_.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (auto nl = in_.find('\n', start); nl != std::string::npos; nl = in_.find('\n', start)) {
      boost::system::error_code ec;
      auto v = json::parse(std::string_view(in_).substr(start, nl - start), ec);
      start = nl + 1;
      if (ec || !v.is_object()) continue;
      auto* id = v.as_object().if_contains("id");
      if (id && id->is_int64()) answers_[id->as_int64()] = std::move(v.as_object());
    }
    in_.erase(0, start);
  }

  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::atomic<std::int64_t> next_id_{1};
  std::mutex write_mu_;
  std::string in_;
  std::map<std::int64_t, json::object> answers_;
};

// One blocking RESP connection: commands as arrays of bulk strings, replies
// parsed into strings (nil: nullopt; an array: its elements joined by '\n').
class Redis {
 public:
  explicit Redis(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error("cannot connect to redis on port " + std::to_string(port));
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;
  ~Redis() { ::close(fd_); }

  void send(const std::vector<std::string>& argv) {
    std::string out = "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto& a : argv) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    for (std::size_t sent = 0; sent < out.size();) {
      const ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("redis send failed");
      sent += static_cast<std::size_t>(n);
    }
  }

  std::optional<std::string> reply() {
    const std::string line = read_line();
    switch (line.empty() ? '?' : line[0]) {
      case '+':
      case ':':
        return line.substr(1);
      case '-':
        throw std::runtime_error("redis: " + line);
      case '$': {
        const long n = std::stol(line.substr(1));
        if (n < 0) return std::nullopt;
        std::string s = read_exact(static_cast<std::size_t>(n) + 2);
        return s.substr(0, static_cast<std::size_t>(n));
      }
      case '*': {
        const long n = std::stol(line.substr(1));
        if (n < 0) return std::nullopt;
        std::string joined;
        for (long i = 0; i < n; ++i) joined += (i ? "\n" : "") + reply().value_or("");
        return joined;
      }
      default:
        throw std::runtime_error("redis: unexpected reply " + line);
    }
  }

  std::optional<std::string> call(const std::vector<std::string>& argv) {
    send(argv);
    return reply();
  }

 private:
  void fill() {
    char buf[1 << 16];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) throw std::runtime_error("redis closed the connection");
    in_.append(buf, static_cast<std::size_t>(n));
  }
  std::string read_line() {
    for (;;) {
      if (auto eol = in_.find("\r\n"); eol != std::string::npos) {
        std::string line = in_.substr(0, eol);
        in_.erase(0, eol + 2);
        return line;
      }
      fill();
    }
  }
  std::string read_exact(std::size_t n) {
    while (in_.size() < n) fill();
    std::string s = in_.substr(0, n);
    in_.erase(0, n);
    return s;
  }

  int fd_ = -1;
  std::string in_;
};

std::string item(long i) { return "q/" + std::to_string(1000000 + i).substr(1); }

// What one throughput run measured.
struct TakeRun {
  double takes_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

// Runs `take(worker)` on `workers` threads until each says the queue is
// empty (returns nullopt); checks that every item came out exactly once.
template <class Take>
TakeRun drain(const Options& o, const std::string& what, Take take) {
  std::mutex mu;
  std::set<std::string> seen;
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(o.workers));
  std::atomic<std::int64_t> last_ns{0};
  std::atomic<long> duplicates{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (long w = 0; w < o.workers; ++w) {
    threads.emplace_back([&, w] {
      for (;;) {
        const auto s = Clock::now();
        std::optional<std::string> got = take(w);
        if (!got) return;
        lat[static_cast<std::size_t>(w)].push_back(ms_since(s));
        last_ns = std::max<std::int64_t>(last_ns.load(), (Clock::now() - t0).count());
        std::lock_guard lock(mu);
        if (!seen.insert(*got).second) ++duplicates;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (duplicates > 0 || static_cast<long>(seen.size()) != o.entries) {
    throw std::runtime_error(what + ": took " + std::to_string(seen.size()) + " distinct of " +
                             std::to_string(o.entries) + ", " + std::to_string(duplicates.load()) +
                             " twice");
  }
  const double seconds = static_cast<double>(last_ns.load()) / 1e9;
  const auto summary = keel::bench::summarize(lat);
  return {static_cast<double>(o.entries) / seconds, summary.p50, summary.p99};
}

struct KeelFleet {
  std::unique_ptr<KeelServer> orchestrator;
  std::vector<std::unique_ptr<KeelServer>> workers;
};

const json::object kShared{{"tier", "cross_run"}, {"namespace", "shared"}};

json::object shared(json::object o) {
  for (const auto& [k, v] : kShared) o[k] = v;
  return o;
}

TakeRun keel_takes(const Options& o, KeelFleet& fleet) {
  for (long i = 0; i < o.entries; i += 64) {
    json::array then;
    for (long j = i; j < std::min(o.entries, i + 64); ++j) {
      then.push_back(shared({{"op", "put"}, {"key", item(j)}, {"value", {{"task", j}}}}));
    }
    fleet.orchestrator->tool("memory_txn", {{"compare", json::array{}}, {"then", std::move(then)}});
  }
  return drain(o, "keel", [&](long w) -> std::optional<std::string> {
    auto r = fleet.workers[static_cast<std::size_t>(w)]->tool(
        "memory_take", shared({{"prefix", "q/"}, {"wait_ms", 0}}));
    if (!r.at("taken").as_bool()) return std::nullopt;
    return std::string(r.at("key").as_string());
  });
}

TakeRun redis_takes(const Options& o, int port, bool blmove) {
  {
    Redis r(port);
    r.call({"DEL", "q", "processing"});
    for (long i = 0; i < o.entries; i += 64) {
      std::vector<std::string> cmd{"RPUSH", "q"};
      for (long j = i; j < std::min(o.entries, i + 64); ++j) cmd.push_back(item(j));
      r.call(cmd);
    }
  }
  std::vector<std::unique_ptr<Redis>> conns;
  for (long w = 0; w < o.workers; ++w) conns.push_back(std::make_unique<Redis>(port));
  return drain(o, blmove ? "redis BLMOVE" : "redis BLPOP", [&](long w) -> std::optional<std::string> {
    Redis& c = *conns[static_cast<std::size_t>(w)];
    if (!blmove) {
      auto got = c.call({"BLPOP", "q", "0.05"});
      if (!got) return std::nullopt;
      return got->substr(got->find('\n') + 1);
    }
    auto got = c.call({"BLMOVE", "q", "processing", "LEFT", "RIGHT", "0.05"});
    if (!got) return std::nullopt;
    c.call({"LREM", "processing", "1", *got});  // done: the acknowledgement
    return got;
  });
}

// The wake samples: `wait()` starts a blocked waiter and returns a function
// that blocks until it answers; `put(i)` writes the item that satisfies it.
template <class Wait, class Put>
std::vector<double> wake_samples(const Options& o, Wait wait, Put put) {
  std::vector<double> out;
  for (long i = 0; i < o.wake; ++i) {
    auto answered = wait(i);
    // Spread the puts over a 100 ms poll interval, so a cross-process wake
    // is not always one full poll away.
    std::this_thread::sleep_for(std::chrono::milliseconds(o.settle_ms + (i * 37) % 100));
    const auto sent = Clock::now();
    auto done = std::async(std::launch::async, [&] { put(i); });
    answered();
    out.push_back(ms_since(sent));
    done.get();
  }
  return out;
}

std::vector<double> keel_wake(const Options& o, KeelServer& waiter, KeelServer& writer,
                              const std::string& tag) {
  return wake_samples(
      o,
      [&](long i) {
        const std::int64_t id = waiter.send_tool(
            "memory_take", shared({{"key", "wake/" + tag + std::to_string(i)}, {"wait_ms", 10000}}));
        return [&waiter, id] {
          if (!waiter.read_answer(id).at("taken").as_bool()) throw std::runtime_error("keel waiter timed out");
        };
      },
      [&](long i) {
        if (&writer == &waiter) {
          // Same server: the put's answer is read by the waiter's loop; just send it.
          writer.send_tool("memory_put", shared({{"key", "wake/" + tag + std::to_string(i)}, {"value", i}}));
        } else {
          writer.tool("memory_put", shared({{"key", "wake/" + tag + std::to_string(i)}, {"value", i}}));
        }
      });
}

std::vector<double> redis_wake(const Options& o, int port) {
  Redis waiter(port), writer(port);
  return wake_samples(
      o,
      [&](long i) {
        waiter.send({"BLPOP", "wake" + std::to_string(i), "10"});
        return [&waiter] {
          if (!waiter.reply()) throw std::runtime_error("redis waiter timed out");
        };
      },
      [&](long i) { writer.call({"LPUSH", "wake" + std::to_string(i), "x"}); });
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  keel::bench::parse_flags(argc, argv, usage, [&](const std::string& a, auto next) {
    if (a == "--keel") o.keel = next();
    else if (a == "--state") o.state = next();
    else if (a == "--store") o.store = next();
    else if (a == "--redis") {
      const std::string v = next();
      const auto eq = v.find('=');
      if (eq == std::string::npos) usage("--redis takes NAME=PORT");
      o.redis.emplace_back(v.substr(0, eq), std::stoi(v.substr(eq + 1)));
    } else if (a == "--entries") o.entries = std::stol(next());
    else if (a == "--workers") o.workers = std::stol(next());
    else if (a == "--wake") o.wake = std::stol(next());
    else if (a == "--settle-ms") o.settle_ms = std::stol(next());
    else if (a == "--rounds") o.rounds = std::stol(next());
    else if (a == "--server-stderr") o.server_stderr = next();
    else if (a == "--help" || a == "-h") usage("");
    else usage("unknown flag " + a);
  });
  if (o.keel.empty() || o.state.empty()) usage("--keel and --state are required");
  if (o.entries < 1 || o.workers < 1 || o.rounds < 1 || o.wake < 0) usage("counts must be positive");
  try {
    std::filesystem::create_directories(o.state);
    KeelFleet fleet;
    fleet.orchestrator = std::make_unique<KeelServer>(o, "orchestrator");
    for (long w = 0; w < o.workers; ++w) fleet.workers.push_back(std::make_unique<KeelServer>(o, "worker-" + std::to_string(w)));

    std::map<std::string, std::vector<double>> per_round;
    for (long r = 0; r < o.rounds; ++r) {
      auto run_keel = [&] {
        const TakeRun k = keel_takes(o, fleet);
        per_round["keel_takes_per_s"].push_back(k.takes_per_s);
        per_round["keel_take_p50_ms"].push_back(k.p50_ms);
        per_round["keel_take_p99_ms"].push_back(k.p99_ms);
        const std::string tag = std::to_string(r) + "-";
        per_round["keel_wake_cross_p50_ms"].push_back(
            median(keel_wake(o, *fleet.workers[0], *fleet.orchestrator, "x" + tag)));
        per_round["keel_wake_same_p50_ms"].push_back(
            median(keel_wake(o, *fleet.workers[0], *fleet.workers[0], "s" + tag)));
      };
      auto run_redis = [&] {
        for (const auto& [name, port] : o.redis) {
          per_round["redis_" + name + "_blpop_takes_per_s"].push_back(redis_takes(o, port, false).takes_per_s);
          per_round["redis_" + name + "_blmove_takes_per_s"].push_back(redis_takes(o, port, true).takes_per_s);
          per_round["redis_" + name + "_wake_p50_ms"].push_back(median(redis_wake(o, port)));
        }
      };
      if (r % 2 == 0) {
        run_keel();
        run_redis();
      } else {
        run_redis();
        run_keel();
      }
    }
    json::object out{{"entries", o.entries}, {"workers", o.workers}, {"rounds", o.rounds},
                     {"wake_samples", o.wake}, {"backend", o.store.empty() ? "sqlite" : "postgres"}};
    json::object rounds;
    for (const auto& [k, v] : per_round) {
      out[k] = std::round(median(v) * 100) / 100;
      rounds[k] = json::value_from(v);
    }
    out["per_round"] = std::move(rounds);
    // A readable summary on stderr; the JSON line (last on stdout) is for bench/harness.py.
    for (const auto& [k, v] : per_round) std::cerr << k << " " << median(v) << "\n";
    std::cout << json::serialize(out) << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "take_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

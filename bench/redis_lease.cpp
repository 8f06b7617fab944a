// bench/redis_lease.cpp — the Redis peer of keel's durable lease benchmark.
//
// A lease acquire+release against Redis is `SET name token NX PX ttl` (must
// answer +OK) followed by `DEL name` (must answer :1). N client threads, each
// on its own TCP connection and its own key (like store_bench's "own name"
// run), with a tiny blocking RESP client (no library). Whether this is
// durable depends on the server: bench/run starts redis-server once with
// `appendonly yes, appendfsync always` and once with AOF off.
// Stops after --seconds or --max-ops pairs, whichever comes first; prints one
// JSON line {ops, errors, seconds, ops_per_s, p50_ms, p99_ms, max_ms, clients}.
//
// Usage: redis_lease --port PORT [--host 127.0.0.1] [--clients 16] [--seconds 3]
//                    [--max-ops 200000]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench_util.h"

using Clock = std::chrono::steady_clock;

namespace {

// One blocking RESP connection. Not thread-safe: one per thread.
class Resp {
 public:
  Resp(const std::string& host, int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) throw std::runtime_error("bad host " + host);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error("cannot connect to redis at " + host + ":" + std::to_string(port));
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{10, 0};  // a stuck server fails the run instead of hanging it
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  Resp(const Resp&) = delete;
  Resp& operator=(const Resp&) = delete;
  ~Resp() { ::close(fd_); }

  // Sends one command (array of bulk strings) and returns the reply line
  // (simple string, error, integer or nil bulk; this bench needs no others).
  std::string call(const std::vector<std::string>& argv) {
    std::string out = "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto& a : argv) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    for (std::size_t sent = 0; sent < out.size();) {
      const ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      sent += static_cast<std::size_t>(n);
    }
    for (;;) {
      const auto eol = in_.find("\r\n");
      if (eol != std::string::npos) {
        std::string line = in_.substr(0, eol);
        in_.erase(0, eol + 2);
        return line;
      }
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) throw std::runtime_error("redis closed the connection or timed out");
      in_.append(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string in_;
};

[[noreturn]] void usage(const std::string& why) {
  keel::bench::usage_exit(
      "redis_lease", why,
      "usage: redis_lease --port PORT [--host 127.0.0.1] [--clients 16] [--seconds 3] "
      "[--max-ops N]\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 0;
  int clients = 16;
  double seconds = 3;
  std::int64_t max_ops = 200'000;
  keel::bench::parse_flags(argc, argv, usage, [&](const std::string& a, const auto& next) {
    if (a == "--port") port = std::stoi(next());
    else if (a == "--host") host = next();
    else if (a == "--clients") clients = std::stoi(next());
    else if (a == "--seconds") seconds = std::stod(next());
    else if (a == "--max-ops") max_ops = std::stoll(next());
    else usage("unknown argument " + a);
  });
  if (port <= 0 || clients < 1 || clients > 1024 || seconds <= 0 || max_ops < 1) usage("bad options");

  std::atomic<std::int64_t> claimed{0};
  std::atomic<std::int64_t> errors{0};
  std::mutex err_mu;
  std::string first_error;
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(clients));
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(seconds));
  std::vector<std::thread> pool;
  for (int t = 0; t < clients; ++t) {
    pool.emplace_back([&, t] {
      try {
        Resp r(host, port);
        const std::string key = "bench:lease:" + std::to_string(t);
        auto& mine = lat[static_cast<std::size_t>(t)];
        while (Clock::now() < deadline) {
          const std::int64_t i = claimed.fetch_add(1);
          if (i >= max_ops) break;
          const auto t0 = Clock::now();
          const std::string got = r.call({"SET", key, std::to_string(i), "NX", "PX", "60000"});
          const std::string del = r.call({"DEL", key});
          if (got != "+OK" || del != ":1") throw std::runtime_error("unexpected reply " + got + " / " + del);
          mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
      } catch (const std::exception& e) {
        errors.fetch_add(1);
        std::lock_guard lock(err_mu);
        if (first_error.empty()) first_error = e.what();
      }
    });
  }
  for (auto& th : pool) th.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const keel::bench::LatencySummary l = keel::bench::summarize(lat);
  std::printf(
      "{\"ops\":%zu,\"errors\":%lld,\"seconds\":%.3f,\"ops_per_s\":%.1f,\"p50_ms\":%.3f,"
      "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"clients\":%d}\n",
      l.count, static_cast<long long>(errors.load()), secs,
      secs > 0 ? static_cast<double>(l.count) / secs : 0.0, l.p50, l.p99, l.max, clients);
  if (!first_error.empty()) std::cerr << "redis_lease: " << first_error << "\n";
  return errors.load() == 0 && l.count > 0 ? 0 : 1;
}

// keel/mcp/stdio_transport.cpp — MCP over newline-delimited stdio.
//
// One reader thread (the caller's) reads lines with a length cap, answers
// what is cheap inline (errors, notifications such as notifications/cancelled,
// ping, initialize, server/discover, tools/list) and hands each tools/call to a
// fixed pool of workers, so a long call (a lease wait) neither blocks other
// requests nor the cancellation that should end it. Output: one JSON message
// per line through write(2) under a mutex. SIGPIPE is ignored; a write error
// (EPIPE: the client went away) stops the server.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <atomic>
#include <csignal>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include "mcp/jsonrpc.h"
#include "mcp/server.h"

namespace keel::mcp {

namespace json = boost::json;

namespace {

// Serialized, complete-line writes to one fd.
class LineWriter {
 public:
  LineWriter(int fd, int wake_fd) : fd_(fd), wake_fd_(wake_fd) {}

  void write_line(std::string line) {
    line.push_back('\n');
    std::lock_guard lock(mu_);
    if (broken_) return;
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n > 0) {
        p += n;
        left -= static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd pfd{fd_, POLLOUT, 0};
        (void)::poll(&pfd, 1, 1000);
        continue;
      }
      spdlog::warn("mcp stdio: output closed ({}); stopping", n < 0 ? std::strerror(errno) : "0");
      broken_ = true;
      const char c = 'x';
      (void)!::write(wake_fd_, &c, 1);
      return;
    }
  }

  bool broken() const {
    std::lock_guard lock(mu_);
    return broken_;
  }

 private:
  int fd_;
  int wake_fd_;
  mutable std::mutex mu_;
  bool broken_ = false;
};

class WorkerPool {
 public:
  explicit WorkerPool(int n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~WorkerPool() { drain(); }

  void submit(std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

  // Runs everything queued, then joins.
  void drain() {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return closing_ || !queue_.empty(); });
        if (queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      try {
        job();
      } catch (const std::exception& e) {  // work never throws; belt and braces
        spdlog::error("mcp stdio: worker: {}", e.what());
      } catch (...) {
        spdlog::error("mcp stdio: worker: unknown exception");
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool closing_ = false;
  std::vector<std::thread> threads_;
};

bool blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

// SIGINT / SIGTERM end the session as EOF does (clients such as Claude Code
// stop their servers with SIGINT): the handler only writes a byte to this pipe.
std::atomic<int> g_stop_fd{-1};

void on_stop_signal(int) {
  const int fd = g_stop_fd.load();
  if (fd >= 0) {
    const char c = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &c, 1);
  }
}

}  // namespace

int serve_stdio(McpServer& server, int in_fd, int out_fd, const StdioOptions& options) {
  std::signal(SIGPIPE, SIG_IGN);

  int wake[2];
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    spdlog::error("mcp stdio: pipe2: {}", std::strerror(errno));
    return 1;
  }
  int stop[2];
  if (::pipe2(stop, O_CLOEXEC | O_NONBLOCK) != 0) {
    spdlog::error("mcp stdio: pipe2: {}", std::strerror(errno));
    return 1;
  }
  g_stop_fd.store(stop[1]);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);

  const std::size_t max_bytes = server.options().max_message_bytes;
  LineWriter writer(out_fd, wake[1]);
  auto conn = server.connect(
      [&writer](const json::value& msg) { writer.write_line(json::serialize(msg)); },
      options.session_id);
  WorkerPool pool(options.workers > 0 ? options.workers : 1);

  auto dispatch = [&](std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (blank(line)) return;
    Connection::Received r = conn->receive(line);
    if (r.work) pool.submit(std::move(r.work));
  };

  int rc = 0;
  std::string line;
  bool discarding = false;  // inside an over-long line: skip to its newline
  std::vector<char> buf(64 * 1024);
  for (;;) {
    pollfd fds[3] = {{in_fd, POLLIN, 0}, {wake[0], POLLIN, 0}, {stop[0], POLLIN, 0}};
    const int pr = ::poll(fds, 3, -1);
    if (pr < 0) {
      if (errno == EINTR) continue;
      spdlog::error("mcp stdio: poll: {}", std::strerror(errno));
      rc = 1;
      break;
    }
    if (fds[1].revents != 0 || writer.broken()) break;
    if (fds[2].revents != 0) {
      spdlog::info("mcp stdio: stopped by a signal; finishing in-flight calls");
      break;
    }
    if (fds[0].revents == 0) continue;
    const ssize_t n = ::read(in_fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      spdlog::error("mcp stdio: read: {}", std::strerror(errno));
      rc = 1;
      break;
    }
    if (n == 0) {  // EOF
      if (!discarding && !line.empty()) dispatch(line);  // a last line without '\n'
      break;
    }
    std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
    while (!chunk.empty()) {
      const std::size_t nl = chunk.find('\n');
      const std::string_view part = chunk.substr(0, nl);
      if (!discarding) {
        if (line.size() + part.size() > max_bytes) {
          spdlog::warn("mcp stdio: message over {} bytes rejected", max_bytes);
          writer.write_line(json::serialize(jsonrpc::to_json(jsonrpc::make_error(
              std::nullopt, jsonrpc::ErrorCode::kInvalidRequest,
              "Invalid Request: message too large (limit " + std::to_string(max_bytes) +
                  " bytes)"))));
          line.clear();
          line.shrink_to_fit();
          discarding = true;
        } else {
          line.append(part);
        }
      }
      if (nl == std::string_view::npos) break;
      if (!discarding) dispatch(line);
      line.clear();
      discarding = false;
      chunk.remove_prefix(nl + 1);
    }
  }

  spdlog::debug("mcp stdio: input closed; finishing {} in-flight request(s)", conn->in_flight());
  conn->shutdown();
  pool.drain();
  conn.reset();
  ::close(wake[0]);
  ::close(wake[1]);
  // A second signal during the caller's clean-up ends the process the default way.
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  g_stop_fd.store(-1);
  ::close(stop[0]);
  ::close(stop[1]);
  return rc;
}

}  // namespace keel::mcp

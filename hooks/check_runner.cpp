// check_runner.cpp — see check_runner.h.
#include "hooks/check_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace keel::hooks {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kGrace = std::chrono::milliseconds(200);

std::int64_t ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

void keep_tail(std::string& out, const char* data, std::size_t n) {
  out.append(data, n);
  if (out.size() > 2 * kKeptOutput) out.erase(0, out.size() - kKeptOutput);
}

}  // namespace

CheckResult run_check(const std::string& command, const std::string& cwd,
                      std::chrono::milliseconds timeout) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  int err_pipe[2];  // the child reports a failed chdir/exec through it
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  const char* dir = cwd.empty() ? nullptr : cwd.c_str();
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  const auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    throw std::runtime_error(std::string("cannot fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_DFL);
    int report = 0;
    if (dir && ::chdir(dir) != 0) {
      report = errno;
    } else {
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::execv("/bin/sh", const_cast<char* const*>(argv));
      report = errno;
    }
    char code = static_cast<char>(report == 0 ? 1 : report);
    ssize_t ignored = ::write(err_pipe[1], &code, 1);
    (void)ignored;
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent: no race with the kill below
  ::close(fds[1]);
  ::close(err_pipe[1]);

  char code = 0;
  ssize_t got;
  do {
    got = ::read(err_pipe[0], &code, 1);
  } while (got < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (got == 1) {
    ::close(fds[0]);
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw std::runtime_error(std::string(dir ? "cannot run the check in " + cwd : "cannot run /bin/sh") +
                             ": " + std::strerror(code));
  }

  CheckResult r;
  const auto deadline = t0 + timeout;
  bool exited = false;
  bool eof = false;
  int status = 0;
  Clock::time_point exited_at{};
  char buf[65536];
  while (!eof) {
    if (!exited) {
      pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        exited = true;
        exited_at = Clock::now();
      }
    }
    const auto now = Clock::now();
    if (!exited && now >= deadline) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      exited = true;
      exited_at = now;
    }
    if (exited && Clock::now() - exited_at >= kGrace) break;
    auto wait = exited ? kGrace : std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    int wait_ms = static_cast<int>(std::min<std::int64_t>(std::max<std::int64_t>(wait.count(), 0), 50));
    pollfd p{fds[0], POLLIN, 0};
    int n = ::poll(&p, 1, wait_ms);
    if (n < 0 && errno != EINTR) break;
    if (n > 0) {
      ssize_t k = ::read(fds[0], buf, sizeof buf);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        eof = true;
      } else {
        keep_tail(r.output, buf, static_cast<std::size_t>(k));
        r.output_bytes += k;
      }
    }
  }
  ::close(fds[0]);
  if (!exited) {
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (r.output.size() > kKeptOutput) r.output.erase(0, r.output.size() - kKeptOutput);
  if (!r.timed_out) {
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  }
  r.elapsed_ms = ms_since(t0);
  return r;
}

std::string output_tail(std::string_view text, int max_lines, int max_bytes) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  bool cut = false;
  std::size_t start = text.size();
  int lines = 0;
  while (start > 0) {
    std::size_t nl = text.rfind('\n', start - 1);
    if (nl == std::string_view::npos) {
      start = 0;
      break;
    }
    if (++lines >= max_lines) {
      start = nl + 1;
      cut = true;
      break;
    }
    start = nl;
  }
  if (start == text.size()) start = 0;
  std::string_view tail = text.substr(start);
  if (tail.size() > static_cast<std::size_t>(max_bytes)) {
    std::size_t from = tail.size() - static_cast<std::size_t>(max_bytes);
    while (from < tail.size() && (static_cast<unsigned char>(tail[from]) & 0xC0) == 0x80) ++from;
    tail = tail.substr(from);
    cut = true;
  }
  return cut ? "…\n" + std::string(tail) : std::string(tail);
}

}  // namespace keel::hooks

#include "tools/fanout_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace keel::tools::fanout {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kErrTail = 4096;

void ProcessKill(pid_t pgid, int sig) { ::kill(-pgid, sig); }

// Closes the descriptors it owns.
struct Fd {
  int fd = -1;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Reads what is available now; returns false at end of file (or error).
bool drain(int fd, std::string& into, std::size_t cap, bool keep_tail, bool& truncated) {
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      if (keep_tail) {
        into.append(buf, static_cast<std::size_t>(n));
        if (into.size() > cap) into.erase(0, into.size() - cap);
      } else {
        std::size_t room = into.size() < cap ? cap - into.size() : 0;
        std::size_t take = std::min(room, static_cast<std::size_t>(n));
        into.append(buf, take);
        if (take < static_cast<std::size_t>(n)) truncated = true;
      }
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

// True once the child has exited; leaves it unreaped (a zombie keeps its pid
// and process group from being reused while we may still signal the group).
bool has_exited(pid_t pid) {
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno == ECHILD;
  }
  return info.si_pid == pid;
}

}  // namespace

void ProcessGroups::add(pid_t pgid, std::size_t branch) {
  std::lock_guard lock(mu_);
  groups_[pgid] = branch;
  if (closed_) ProcessKill(pgid, SIGTERM);
}

void ProcessGroups::remove(pid_t pgid) {
  std::lock_guard lock(mu_);
  groups_.erase(pgid);
}

void ProcessGroups::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  for (const auto& [pgid, branch] : groups_) ProcessKill(pgid, SIGTERM);
}

std::map<std::size_t, pid_t> ProcessGroups::snapshot() const {
  std::lock_guard lock(mu_);
  std::map<std::size_t, pid_t> out;
  for (const auto& [pgid, branch] : groups_) out[branch] = pgid;
  return out;
}

CommandOutcome run_command(const CommandSpec& spec, const CommandLimits& limits,
                           const std::function<bool()>& stop, ProcessGroups& groups,
                           std::size_t branch) {
  CommandOutcome out;
  const auto started = Clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  };

  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    out.spawn_errno = errno;
    return out;
  }
  Fd out_r{out_pipe[0]}, out_w{out_pipe[1]};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    out.spawn_errno = errno;
    return out;
  }
  Fd err_r{err_pipe[0]}, err_w{err_pipe[1]};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec.cwd.c_str());
  // Descriptors without O_CLOEXEC (the store's, a socket) stay with keel.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);  // a group of its own, led by the child
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;  // keel ignores SIGPIPE; the child must not inherit that
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
    sigaddset(&defaults, sig);
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);

  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    out.spawn_errno = rc;
    out.ms = elapsed_ms();
    return out;
  }
  out.spawned = true;
  groups.add(pid, branch);
  out_w.reset();
  err_w.reset();
  ::fcntl(out_r.fd, F_SETFL, ::fcntl(out_r.fd, F_GETFL) | O_NONBLOCK);
  ::fcntl(err_r.fd, F_SETFL, ::fcntl(err_r.fd, F_GETFL) | O_NONBLOCK);

  bool terminating = false;
  bool killed = false;
  Clock::time_point term_at{};
  bool err_truncated = false;
  for (;;) {
    pollfd fds[2];
    nfds_t n = 0;
    if (out_r.fd >= 0) fds[n++] = pollfd{out_r.fd, POLLIN, 0};
    if (err_r.fd >= 0) fds[n++] = pollfd{err_r.fd, POLLIN, 0};
    // With both pipes closed the child is exiting (or detached them): check
    // often. Otherwise a pipe event or the next stop() poll wakes us.
    int timeout_ms = n == 0 ? 1 : 10;
    if (!terminating) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(limits.deadline - Clock::now()).count();
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>(left, 0, timeout_ms));
    }
    ::poll(fds, n, timeout_ms);
    if (out_r.fd >= 0 && !drain(out_r.fd, out.out, limits.max_output_bytes, false, out.out_truncated)) {
      out_r.reset();
    }
    if (err_r.fd >= 0 && !drain(err_r.fd, out.err_tail, kErrTail, true, err_truncated)) {
      err_r.reset();
    }
    if (has_exited(pid)) break;
    const auto now = Clock::now();
    if (!terminating) {
      if (stop && stop()) {
        out.stopped = true;
      } else if (now >= limits.deadline) {
        out.timed_out = true;
      }
      if (out.stopped || out.timed_out) {
        terminating = true;
        term_at = now;
        ProcessKill(pid, SIGTERM);
      }
    } else if (!killed && now - term_at >= limits.kill_grace) {
      killed = true;
      ProcessKill(pid, SIGKILL);
    }
  }
  if (out_r.fd >= 0) drain(out_r.fd, out.out, limits.max_output_bytes, false, out.out_truncated);
  if (err_r.fd >= 0) drain(err_r.fd, out.err_tail, kErrTail, true, err_truncated);
  // The leader is a zombie, so its group id cannot have been reused: kill
  // whatever it left behind in the group, then reap it.
  groups.remove(pid);
  ProcessKill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) out.signal = WTERMSIG(status);
  out.ms = elapsed_ms();
  return out;
}

}  // namespace keel::tools::fanout

// keel/tools/fanout_process.h — runs one command branch of fanout_run: a
// child in its own process group, stdin /dev/null, stdout captured (bounded),
// the tail of stderr kept for error messages, the whole group killed on
// timeout or cancel (SIGTERM, then SIGKILL after a grace period).
//
// Thread safety: run_command may be called from many threads at once (it uses
// posix_spawn and close-on-exec pipes, so no descriptor of another thread's
// child leaks into this one). ProcessGroups is internally locked.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace keel::tools::fanout {

// The process groups of a run's running command branches, so that a cancel
// from another thread kills them at once rather than when each branch next
// polls. Once close() was called every group added later is killed on entry.
class ProcessGroups {
 public:
  void add(pid_t pgid, std::size_t branch);
  void remove(pid_t pgid);
  // Sends SIGTERM to every group now and to every group added from now on.
  void close();
  // branch index → pgid of the groups alive now.
  std::map<std::size_t, pid_t> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<pid_t, std::size_t> groups_;
  bool closed_ = false;
};

struct CommandSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH
  std::string cwd;                // "" = keel's working directory
};

struct CommandOutcome {
  bool spawned = false;
  int spawn_errno = 0;
  int exit_code = -1;   // when it exited normally
  int signal = 0;       // when a signal ended it
  bool timed_out = false;
  bool stopped = false;  // `stop` said so (cancel, budget, terminate)
  std::string out;       // stdout, at most max_output_bytes
  bool out_truncated = false;
  std::string err_tail;  // the last 4 KiB of stderr
  std::int64_t ms = 0;
};

struct CommandLimits {
  std::chrono::steady_clock::time_point deadline;
  std::size_t max_output_bytes = 1 << 20;
  std::chrono::milliseconds kill_grace{50};
};

// Runs the command to completion, to its deadline, or until `stop()` returns
// true (polled every few milliseconds; ProcessGroups::close() is the fast
// path). The child's group is registered in `groups` while it runs. Returns
// after the child was reaped and its group killed.
CommandOutcome run_command(const CommandSpec& spec, const CommandLimits& limits,
                           const std::function<bool()>& stop, ProcessGroups& groups,
                           std::size_t branch);

}  // namespace keel::tools::fanout

// check_runner.h — runs a check command (the oracle's tests/lint) with a deadline.
//
// Contract:
// - run_check(command, cwd, timeout) runs `/bin/sh -c command` in `cwd` ("" = the current
//   directory) as the leader of a new process group, stdin from /dev/null, stdout and stderr
//   into one pipe. It returns when the shell exits, or kills the whole process group (SIGKILL)
//   when the timeout passes. Background processes the command leaves holding the pipe are not
//   waited for beyond a short grace period.
// - The last kKeptOutput bytes of the output are kept (earlier ones are counted, not stored).
// - Throws std::runtime_error when the command cannot be started (no /bin/sh, cwd missing).
// - Thread-safe (no shared state); safe in a multi-threaded process (the child only calls
//   async-signal-safe functions before exec).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace keel::hooks {

inline constexpr std::size_t kKeptOutput = 256 * 1024;

struct CheckResult {
  bool timed_out = false;
  int exit_code = -1;    // the shell's exit status; -1 when killed by a signal or timed out
  int signal = 0;        // the signal that ended it, if any
  std::string output;    // the tail of stdout+stderr (at most kKeptOutput bytes)
  std::int64_t output_bytes = 0;  // everything it wrote
  std::int64_t elapsed_ms = 0;
  std::string start_error;  // set by callers that caught run_check's throw: it never started

  bool passed() const { return start_error.empty() && !timed_out && exit_code == 0; }
};

CheckResult run_check(const std::string& command, const std::string& cwd,
                      std::chrono::milliseconds timeout);

// The last `max_lines` lines of `text`, then at most its last `max_bytes` bytes (cut at a UTF-8
// boundary), marked with "…" when shortened.
std::string output_tail(std::string_view text, int max_lines, int max_bytes);

}  // namespace keel::hooks

// keel/state/process_table.h — the operating system's process table, as keel
// needs it to know agents by their process and to tell when they are gone.
//
// An agent session is anchored on one process: the agent's own (Claude Code,
// Codex, Gemini CLI ...), found as the nearest known ancestor of the keel
// process that the agent started (its MCP server, a hook). The anchor is
// {host, pid, start time}: a pid alone is reused, a pid with the start time it
// had when keel saw it is not (the kernel counts start time in clock ticks
// since boot, and `host` changes with every boot).
//
// `host` is a key, not a name: two processes see the same host key exactly
// when they can see each other's pids (same boot, same pid namespace), so a
// liveness answer is only given for anchors of this host; any other anchor is
// kUnknown and its holds live by TTL and heartbeats alone.
//
// Every lookup goes through this interface so a macOS implementation
// (sysctl KERN_PROC / proc_pidinfo) can slot in beside the Linux /proc one,
// and tests can inject a table whose processes live and die on command.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace keel::state {

// One process, as the table sees it now.
struct ProcessInfo {
  std::int64_t pid = 0;
  std::int64_t ppid = 0;
  std::int64_t start_time = 0;  // opaque, stable for the process's life
  bool zombie = false;          // exited, not yet reaped: counts as gone
  std::string comm;             // the kernel's short name
  std::string exe;              // absolute path of the executable ("" when unreadable)
  std::vector<std::string> argv;  // at most the first 4 words
};

// Where an agent session lives: its process on one host.
struct ProcessAnchor {
  std::string host;  // ProcessTable::host_key() of the host that saw it
  std::int64_t pid = 0;
  std::int64_t start_time = 0;

  bool operator==(const ProcessAnchor&) const = default;
};

enum class Liveness { kAlive, kDead, kUnknown };

class ProcessTable {
 public:
  virtual ~ProcessTable() = default;

  // This host's key (see above): hex, stable for the boot.
  virtual std::string host_key() const = 0;
  // A readable host name for listings.
  virtual std::string host_name() const = 0;
  // The process `pid`, or nullopt when there is none.
  virtual std::optional<ProcessInfo> info(std::int64_t pid) const = 0;
  // kAlive when `a` is on this host and its pid still runs with the same
  // start time; kDead when it is on this host and gone (exited, reaped or a
  // zombie, or the pid now belongs to another process); kUnknown for another
  // host or a malformed anchor. Never kDead for a process that runs.
  virtual Liveness liveness(const ProcessAnchor& a) const;
  // The calling process's parent pid.
  virtual std::int64_t parent_pid() const = 0;
};

// The table of the machine keel runs on (Linux: /proc). Never null.
std::shared_ptr<const ProcessTable> system_process_table();

}  // namespace keel::state

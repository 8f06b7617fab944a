// keel/state/process_table_linux.cpp — ProcessTable over Linux's /proc.
//
// Costs (they sit on the hook's path): info() is one read of
// /proc/PID/stat, one readlink of /proc/PID/exe and one read of
// /proc/PID/cmdline, a few microseconds each; liveness() reads only stat.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "crypto/sha256.h"
#include "state/process_table.h"

namespace keel::state {

namespace {

// Reads a small /proc file whole ("" when it cannot be read).
std::string read_small(const std::string& path, std::size_t limit = 4096) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[1024];
  while (out.size() < limit) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (out.size() > limit) out.resize(limit);
  return out;
}

// /proc/PID/stat: "pid (comm) state ppid ... starttime(22nd field) ...".
// comm may hold spaces and parentheses: it ends at the LAST ')'.
struct Stat {
  std::string comm;
  char state = '?';
  std::int64_t ppid = 0;
  std::int64_t start_time = 0;
};

std::optional<Stat> read_stat(std::int64_t pid) {
  const std::string text = read_small("/proc/" + std::to_string(pid) + "/stat");
  const std::size_t open = text.find('(');
  const std::size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  Stat s;
  s.comm = text.substr(open + 1, close - open - 1);
  // Fields after comm, numbered from 3 (state).
  std::size_t pos = close + 1;
  int field = 2;
  while (pos < text.size() && field < 22) {
    while (pos < text.size() && text[pos] == ' ') ++pos;
    std::size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    ++field;
    const std::string word = text.substr(pos, end - pos);
    if (word.empty()) return std::nullopt;
    if (field == 3) s.state = word[0];
    if (field == 4) s.ppid = std::strtoll(word.c_str(), nullptr, 10);
    if (field == 22) s.start_time = std::strtoll(word.c_str(), nullptr, 10);
    pos = end;
  }
  if (field < 22) return std::nullopt;
  return s;
}

class LinuxProcessTable final : public ProcessTable {
 public:
  // Computed on first use: a hook whose parent is no agent never needs them.
  std::string host_key() const override {
    std::call_once(key_once_, [this] {
      // Same boot and same pid namespace <=> the same pids mean the same processes.
      std::string boot = read_small("/proc/sys/kernel/random/boot_id", 128);
      while (!boot.empty() && (boot.back() == '\n' || boot.back() == ' ')) boot.pop_back();
      struct stat ns {};
      std::string pidns = ::stat("/proc/self/ns/pid", &ns) == 0 ? std::to_string(ns.st_ino) : "";
      host_key_ = crypto::sha256_hex(boot + "/" + pidns).substr(0, 16);
    });
    return host_key_;
  }
  std::string host_name() const override {
    std::call_once(name_once_, [this] {
      char name[256] = {};
      if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') std::strcpy(name, "localhost");
      host_name_ = name;
    });
    return host_name_;
  }
  std::int64_t parent_pid() const override { return ::getppid(); }

  std::optional<ProcessInfo> info(std::int64_t pid) const override {
    if (pid <= 0) return std::nullopt;
    std::optional<Stat> s = read_stat(pid);
    if (!s) return std::nullopt;
    ProcessInfo p;
    p.pid = pid;
    p.ppid = s->ppid;
    p.start_time = s->start_time;
    p.zombie = s->state == 'Z' || s->state == 'X';
    p.comm = s->comm;
    const std::string base = "/proc/" + std::to_string(pid);
    char exe[4096];
    ssize_t n = ::readlink((base + "/exe").c_str(), exe, sizeof exe - 1);
    if (n > 0) {
      p.exe.assign(exe, static_cast<std::size_t>(n));
      // A replaced executable reads "/path (deleted)".
      constexpr std::string_view kDeleted = " (deleted)";
      if (p.exe.size() > kDeleted.size() &&
          p.exe.compare(p.exe.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0) {
        p.exe.resize(p.exe.size() - kDeleted.size());
      }
    }
    const std::string cmdline = read_small(base + "/cmdline", 8192);
    std::size_t pos = 0;
    while (pos < cmdline.size() && p.argv.size() < 4) {
      std::size_t end = cmdline.find('\0', pos);
      if (end == std::string::npos) end = cmdline.size();
      p.argv.push_back(cmdline.substr(pos, end - pos));
      pos = end + 1;
    }
    return p;
  }

  Liveness liveness(const ProcessAnchor& a) const override {
    if (a.host.empty() || a.host != host_key() || a.pid <= 0) return Liveness::kUnknown;
    std::optional<Stat> s = read_stat(a.pid);
    if (!s) return Liveness::kDead;
    if (s->start_time != a.start_time) return Liveness::kDead;  // the pid was reused
    if (s->state == 'Z' || s->state == 'X') return Liveness::kDead;
    return Liveness::kAlive;
  }

 private:
  mutable std::once_flag key_once_;
  mutable std::once_flag name_once_;
  mutable std::string host_key_;   // set once, under key_once_
  mutable std::string host_name_;  // set once, under name_once_
};

}  // namespace

Liveness ProcessTable::liveness(const ProcessAnchor& a) const {
  if (a.host.empty() || a.host != host_key() || a.pid <= 0) return Liveness::kUnknown;
  std::optional<ProcessInfo> p = info(a.pid);
  if (!p || p->start_time != a.start_time || p->zombie) return Liveness::kDead;
  return Liveness::kAlive;
}

std::shared_ptr<const ProcessTable> system_process_table() {
  static const std::shared_ptr<const ProcessTable> table = std::make_shared<LinuxProcessTable>();
  return table;
}

}  // namespace keel::state

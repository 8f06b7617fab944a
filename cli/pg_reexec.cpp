// keel/cli/pg_reexec.cpp — open_postgres_store for the static `keel` binary,
// which carries no libpq (see CMakeLists.txt): the process becomes `keel-pg`
// (the same program, dynamically linked with the PostgreSQL backend) with the
// same arguments and environment, and never returns.
//
// Which keel-pg: $KEEL_PG_BINARY, else the `keel-pg` beside this executable
// (/proc/self/exe). Input this process already consumed (`keel hook` reads
// its event from stdin before it knows it needs the store) is put back on
// fd 0 from cli/stdin_capture.h, so keel-pg reads what keel read; it starts
// in the directory keel started in (cli/workspace.h start_directory). Anything
// buffered for stdout/stderr is flushed first.
//
// Runs once per process, before the command printed its result: every
// command opens its store before it writes to stdout. A keel-pg that turns
// out to be this very executable (KEEL_PG_BINARY pointing at a static keel)
// is refused instead of re-executing forever.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli/stdin_capture.h"
#include "cli/workspace.h"
#include "state/store.h"

namespace keel::state {

namespace {

namespace fs = std::filesystem;

fs::path pg_binary() {
  if (const char* env = std::getenv("KEEL_PG_BINARY"); env && *env) return env;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw StoreError(ErrorCode::kInternal, "cannot find this executable: " + ec.message());
  return self.parent_path() / "keel-pg";
}

// This process's argv, as the kernel keeps it.
std::vector<std::string> own_argv() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  std::string cur;
  for (char ch : all) {
    if (ch == '\0') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += ch;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  if (out.empty()) throw StoreError(ErrorCode::kInternal, "cannot read /proc/self/cmdline");
  return out;
}

bool same_file(const fs::path& a, const fs::path& b) {
  struct stat sa {};
  struct stat sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// Puts `bytes` back as this process's stdin: an anonymous file holding them,
// read from the start, on fd 0 (inherited by the exec'd program).
void restore_stdin(const std::string& bytes) {
  const int fd = ::memfd_create("keel-stdin", 0);
  if (fd < 0) {
    throw StoreError(ErrorCode::kInternal,
                     std::string("cannot hand stdin to keel-pg: memfd_create: ") +
                         std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      throw StoreError(ErrorCode::kInternal,
                       std::string("cannot hand stdin to keel-pg: ") + std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::lseek(fd, 0, SEEK_SET) != 0 || ::dup2(fd, STDIN_FILENO) < 0) {
    const int err = errno;
    ::close(fd);
    throw StoreError(ErrorCode::kInternal,
                     std::string("cannot hand stdin to keel-pg: ") + std::strerror(err));
  }
  ::close(fd);
}

}  // namespace

std::unique_ptr<Store> open_postgres_store(const StoreOptions&) {
  const fs::path binary = pg_binary();
  if (::access(binary.c_str(), X_OK) != 0) {
    throw StoreError(ErrorCode::kInternal,
                     "a PostgreSQL store needs keel-pg, not found at " + binary.string() +
                         ": build it (ninja keel-pg) and install it beside keel, or set "
                         "KEEL_PG_BINARY");
  }
  if (same_file(binary, "/proc/self/exe")) {
    throw StoreError(ErrorCode::kInternal,
                     binary.string() + " has no PostgreSQL backend (it is this keel); "
                                       "KEEL_PG_BINARY must name keel-pg");
  }
  std::vector<std::string> args = own_argv();
  if (const std::string* in = cli::remembered_stdin()) restore_stdin(*in);
  if (const fs::path& start = cli::start_directory(); !start.empty()) {
    if (::chdir(start.c_str()) != 0) {
      throw StoreError(ErrorCode::kInternal, "cannot return to " + start.string() +
                                                 " for keel-pg: " + std::strerror(errno));
    }
  }

  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::cout.flush();
  std::cerr.flush();
  if (auto logger = spdlog::default_logger()) logger->flush();
  std::fflush(nullptr);
  ::execv(binary.c_str(), argv.data());
  throw StoreError(ErrorCode::kInternal,
                   "cannot run " + binary.string() + ": " + std::strerror(errno));
}

}  // namespace keel::state

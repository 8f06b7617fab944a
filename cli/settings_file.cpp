// Settings files: read, back up, replace atomically.
#include "cli/settings_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "cli/settings_json.h"

namespace keel::cli {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& path, const std::string& what) {
  throw SettingsError(path.string() + ": " + what + ": " + std::strerror(errno));
}

// Writes all of `data` to a new file at `path` (O_EXCL); false if it exists.
bool write_new_file(const fs::path& path, std::string_view data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return false;
    fail(path, "cannot create");
  }
  ::fchmod(fd, mode);  // not narrowed by the umask: a copy keeps the original's bits
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      ::unlink(path.c_str());
      errno = saved;
      fail(path, "cannot write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int saved = errno;
    ::unlink(path.c_str());
    errno = saved;
    fail(path, "cannot write");
  }
  return true;
}

// Where writes really go: the target of a symlink, else the path itself.
fs::path resolve_target(const fs::path& path) {
  std::error_code ec;
  if (fs::is_symlink(fs::symlink_status(path, ec))) {
    fs::path real = fs::canonical(path, ec);
    if (!ec) return real;
  }
  return path;
}

fs::path backup(const fs::path& path, const std::string& content, mode_t mode) {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  std::string base = path.string() + ".keel-backup-" + stamp;
  for (int n = 1;; ++n) {
    fs::path candidate = n == 1 ? fs::path(base) : fs::path(base + "-" + std::to_string(n));
    if (write_new_file(candidate, content, mode)) return candidate;
  }
}

mode_t mode_of(const fs::path& path, mode_t fallback) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : fallback;
}

}  // namespace

std::optional<std::string> read_settings_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail(path, "cannot read");
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      errno = saved;
      fail(path, "cannot read");
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

fs::path replace_settings_file(const fs::path& path, std::string_view content) {
  fs::path target = resolve_target(path);
  std::error_code ec;
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec) {
      errno = ec.value();
      fail(target.parent_path(), "cannot create directory");
    }
  }
  std::optional<std::string> old = read_settings_file(target);
  mode_t mode = mode_of(target, 0644);
  fs::path backup_path = old ? backup(target, *old, mode) : fs::path();

  fs::path tmp = target;
  tmp += ".keel-tmp-" + std::to_string(::getpid());
  ::unlink(tmp.c_str());  // left over by a killed run of this pid
  write_new_file(tmp, content, mode);
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
    fail(target, "cannot replace");
  }
  if (int dir = ::open(target.parent_path().empty() ? "." : target.parent_path().c_str(),
                       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dir >= 0) {
    ::fsync(dir);  // the rename itself survives a crash
    ::close(dir);
  }
  return backup_path;
}

fs::path remove_settings_file(const fs::path& path) {
  fs::path target = resolve_target(path);
  std::optional<std::string> old = read_settings_file(target);
  if (!old) return {};
  fs::path backup_path = backup(target, *old, mode_of(target, 0644));
  if (::unlink(path.c_str()) != 0) fail(path, "cannot remove");
  return backup_path;
}

}  // namespace keel::cli

// failure_hint.cpp — see failure_hint.h.
#include "hooks/failure_hint.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "crypto/sha256.h"

namespace keel::hooks {

namespace json = boost::json;

FailureHint::FailureHint(std::filesystem::path dir, std::string_view project,
                         std::string_view session_id)
    : dir_(std::move(dir)) {
  if (dir_.empty()) return;
  std::string key(project);
  key.push_back('\0');
  key.append(session_id);
  marker_ = dir_ / (crypto::sha256_hex(key).substr(0, 32) + ".failing");
}

bool FailureHint::may_have_failures() const {
  if (marker_.empty()) return true;
  struct stat st;
  if (::stat(marker_.c_str(), &st) == 0) return true;
  if (errno != ENOENT) return true;
  // No marker. The directory must exist, or nobody ever kept markers here (a state directory
  // written by an older keel, or one whose hooks directory was removed): then "maybe".
  return ::stat(dir_.c_str(), &st) != 0;
}

FailureHint::WriterLock::WriterLock(const FailureHint& hint) {
  if (hint.dir_.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(hint.dir_, ec);
  if (ec) return;
  const std::string path = (hint.dir_ / "state.lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) return;
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    ::close(fd_);
    fd_ = -1;
    return;
  }
}

FailureHint::WriterLock::~WriterLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

void FailureHint::update(const WriterLock& lock, const json::object& state) const {
  if (marker_.empty()) return;
  if (holds_failures(state)) {
    const int fd = ::open(marker_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) ::close(fd);
  } else if (lock.held()) {
    ::unlink(marker_.c_str());
  }
}

void FailureHint::erase(const WriterLock& lock) const {
  if (!marker_.empty() && lock.held()) ::unlink(marker_.c_str());
}

bool holds_failures(const json::object& state) {
  const auto g = state.find("guardrail");
  if (g == state.end() || !g->value().is_object()) return false;
  for (const auto& [agent, section] : g->value().as_object()) {
    if (!section.is_object()) continue;
    const auto f = section.as_object().find("fail");
    if (f != section.as_object().end() && f->value().is_object() && !f->value().as_object().empty()) {
      return true;
    }
    if (section.as_object().contains("stuck")) return true;  // guardrail no_progress_block
  }
  return false;
}

}  // namespace keel::hooks

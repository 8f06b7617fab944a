// failure_hint.h — lets a PreToolUse hook decide without opening the store.
//
// With the default policies, the only question a PreToolUse asks of the session's state is the
// guardrail's "has this exact call already failed N times in this turn?", and the answer can be
// yes only when the state holds a failure count. A FailureHint is a marker file per session,
//   <dir>/<sha256(project NUL session_id), 32 hex digits>.failing,
// that exists whenever the session's saved state may hold one; without it, `keel hook` answers
// a PreToolUse from the permission gate alone (no SQLite open, no journal write: ~1 ms).
//
// Contract:
// - Every engine that saves session state for a state directory (the CLI hook and
//   `keel serve`'s HTTP hooks) must use a FailureHint on the same directory, under
//   WriterLock from loading the state until update() has run, so that marker updates follow
//   the commits in commit order.
// - may_have_failures() false: the last saved state had no failure when this call ran, or a
//   failure is being saved right now (a reader then acts as if it ran just before that save,
//   which it may have). true: maybe (a stale marker only costs a store read).
// - Best effort and fail-safe: when the directory cannot be created or locked, the hint says
//   "maybe" and the store decides; no error escapes.
// - Thread-safety: distinct objects may be used from distinct threads and processes; the lock
//   is an flock(2) on <dir>/state.lock, so it also serialises threads of one process.
#pragma once

#include <boost/json/object.hpp>

#include <filesystem>
#include <string>

namespace keel::hooks {

class FailureHint {
 public:
  // An empty `dir` disables the hint: may_have_failures() is always true, the rest no-ops.
  FailureHint(std::filesystem::path dir, std::string_view project, std::string_view session_id);

  bool may_have_failures() const;

  class WriterLock {
   public:
    explicit WriterLock(const FailureHint& hint);
    ~WriterLock();
    WriterLock(const WriterLock&) = delete;
    WriterLock& operator=(const WriterLock&) = delete;
    bool held() const { return fd_ >= 0; }

   private:
    int fd_ = -1;
  };

  // Under a held WriterLock, after the session's state was saved (or found) as `state`: makes
  // the marker say whether `state` holds a guardrail failure count (or a no-progress "stuck" mark). Without the lock, marks
  // (never clears), which is always safe.
  void update(const WriterLock& lock, const boost::json::object& state) const;
  // Under a held WriterLock, after the session's state was erased.
  void erase(const WriterLock& lock) const;

  const std::filesystem::path& marker() const { return marker_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path marker_;
};

// Whether a session's policy state holds a guardrail failure count (for any agent).
bool holds_failures(const boost::json::object& state);

}  // namespace keel::hooks

// keel/state/fault_vfs.h — a file-system seam for tests: a SQLite VFS that
// wraps the default one ("unix") and fails chosen writes, syncs and truncates.
//
// A FaultInjector registers its own VFS (a unique name, never the default) on
// construction and unregisters it on destruction. A store opened with
// StoreOptions::faults set opens every connection through it; without it (the
// production default) nothing of this file is used, at no cost.
//
//   auto faults = std::make_shared<FaultInjector>();
//   options.faults = faults;
//   auto store = open_sqlite_store(options);
//   faults->arm(FaultInjector::Op::kSync, 1);    // the next fsync fails
//   store->memory_put(...);                      // throws StoreError
//   faults->disarm();                            // the disk is healthy again
//
// Every file SQLite opens through the VFS (the database, its WAL, any
// temporary or rollback journal) counts, unless arm() narrows it to one kind.
//
// Thread safety: every method may be called from any thread, also while
// connections are using the VFS. Ownership: the injector must outlive every
// connection opened through it (a store holds its options, so it does when
// the injector is only reached through StoreOptions::faults).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

namespace keel::state {

class FaultInjector {
 public:
  enum class Op { kWrite, kSync, kTruncate };
  enum class Files { kAll, kMainDb, kWal };
  enum class Error { kIoErr, kFull };  // SQLITE_IOERR_<op> | SQLITE_FULL

  FaultInjector();
  ~FaultInjector();
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;

  // The name the VFS is registered under (for sqlite3_open_v2).
  const std::string& vfs_name() const { return name_; }

  // Fails the nth (1-based) call of `op` on `files` from now on with `error`,
  // and, when `sticky`, every later one too until disarm(). Replaces any
  // fault armed before.
  void arm(Op op, int nth, Error error = Error::kIoErr, bool sticky = false,
           Files files = Files::kAll);
  void disarm();

  // Calls of `op` seen through the VFS since construction (all files).
  std::int64_t calls(Op op) const;
  // Calls failed on purpose since construction.
  std::int64_t failures() const;

  // For the VFS shim: counts one call of `op` on a file of kind `kind`
  // (kMainDb, kWal, or kAll for any other file) and returns the SQLite result
  // code to fail it with, or 0 to let it through.
  int on_call(Op op, Files kind);

 private:
  std::string name_;
  void* vfs_ = nullptr;  // sqlite3_vfs*, owned

  mutable std::mutex mu_;
  std::int64_t calls_[3] = {0, 0, 0};  // guarded by mu_
  std::int64_t failures_ = 0;          // guarded by mu_
  bool armed_ = false;                 // guarded by mu_, as the fields below
  Op op_ = Op::kWrite;
  Files files_ = Files::kAll;
  Error error_ = Error::kIoErr;
  bool sticky_ = false;
  int countdown_ = 0;  // calls to let through before failing
};

}  // namespace keel::state

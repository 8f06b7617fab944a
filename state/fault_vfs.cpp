// keel/state/fault_vfs.cpp — the VFS shim behind FaultInjector. Every method
// forwards to the default VFS; xWrite, xSync and xTruncate first ask the
// injector whether to fail.
#include "state/fault_vfs.h"

#include <atomic>

#include <sqlite3.h>

#include "state/principal.h"
#include "state/vfs_shim.h"

namespace keel::state {
namespace {

// pAppData of the VFS is the FaultInjector.
struct FaultFile {
  vfs_shim::ShimFile shim;  // first
  FaultInjector* injector;
  FaultInjector::Files kind;
};

FaultFile* fault_file(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f); }
sqlite3_file* below(sqlite3_file* f) { return vfs_shim::below(f); }

int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (const int rc = fault_file(f)->injector->on_call(FaultInjector::Op::kWrite, fault_file(f)->kind)) {
    return rc;
  }
  return below(f)->pMethods->xWrite(below(f), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (const int rc =
          fault_file(f)->injector->on_call(FaultInjector::Op::kTruncate, fault_file(f)->kind)) {
    return rc;
  }
  return below(f)->pMethods->xTruncate(below(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
  if (const int rc = fault_file(f)->injector->on_call(FaultInjector::Op::kSync, fault_file(f)->kind)) {
    return rc;
  }
  return below(f)->pMethods->xSync(below(f), flags);
}

const sqlite3_io_methods kMethods = [] {
  sqlite3_io_methods m = vfs_shim::forwarding_io_methods();
  m.xWrite = x_write;
  m.xTruncate = x_truncate;
  m.xSync = x_sync;
  return m;
}();

int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  FaultFile* s = fault_file(f);
  s->injector = static_cast<FaultInjector*>(vfs->pAppData);
  s->kind = (flags & SQLITE_OPEN_MAIN_DB) != 0 ? FaultInjector::Files::kMainDb
            : (flags & SQLITE_OPEN_WAL) != 0   ? FaultInjector::Files::kWal
                                               : FaultInjector::Files::kAll;
  return vfs_shim::open_below(vfs, sizeof(FaultFile), name, f, flags, out_flags, &kMethods);
}

std::atomic<int> next_id{0};

}  // namespace

FaultInjector::FaultInjector() {
  sqlite3_vfs* r = sqlite3_vfs_find(nullptr);
  if (r == nullptr) throw StoreError(ErrorCode::kInternal, "no default SQLite VFS");
  auto* v = new vfs_shim::ShimVfs{};
  v->name = "keel-fault-" + std::to_string(next_id.fetch_add(1));
  name_ = v->name;
  vfs_shim::init(*v, r, sizeof(FaultFile), x_open);
  v->base.pAppData = this;
  const int rc = sqlite3_vfs_register(&v->base, 0);
  if (rc != SQLITE_OK) {
    delete v;
    throw StoreError(ErrorCode::kInternal, "cannot register the fault-injection VFS");
  }
  vfs_ = v;
}

FaultInjector::~FaultInjector() {
  auto* v = static_cast<vfs_shim::ShimVfs*>(vfs_);
  sqlite3_vfs_unregister(&v->base);
  delete v;
}

void FaultInjector::arm(Op op, int nth, Error error, bool sticky, Files files) {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = true;
  op_ = op;
  files_ = files;
  error_ = error;
  sticky_ = sticky;
  countdown_ = nth > 1 ? nth - 1 : 0;
}

void FaultInjector::disarm() {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = false;
}

std::int64_t FaultInjector::calls(Op op) const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_[static_cast<int>(op)];
}

std::int64_t FaultInjector::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

int FaultInjector::on_call(Op op, Files kind) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_[static_cast<int>(op)] += 1;
  if (!armed_ || op != op_ || (files_ != Files::kAll && files_ != kind)) return 0;
  if (countdown_ > 0) {
    --countdown_;
    return 0;
  }
  if (!sticky_) armed_ = false;
  failures_ += 1;
  if (error_ == Error::kFull) return SQLITE_FULL;
  switch (op) {
    case Op::kWrite: return SQLITE_IOERR_WRITE;
    case Op::kSync: return SQLITE_IOERR_FSYNC;
    case Op::kTruncate: return SQLITE_IOERR_TRUNCATE;
  }
  return SQLITE_IOERR;
}

}  // namespace keel::state

// keel/state/fault_vfs.cpp — the VFS shim behind FaultInjector. Every method
// forwards to the default VFS; xWrite, xSync and xTruncate first ask the
// injector whether to fail.
#include "state/fault_vfs.h"

#include <atomic>
#include <cstring>
#include <new>

#include <sqlite3.h>

#include "state/principal.h"

namespace keel::state {
namespace {

// Our VFS: SQLite's struct first (SQLite passes us its address), then the VFS
// we forward to. pAppData is the FaultInjector.
struct ShimVfs {
  sqlite3_vfs base;
  sqlite3_vfs* real;
  std::string name;
};

// An open file: SQLite's struct first, then the forwarded-to file, which
// lives in the same allocation right after this struct (szOsFile covers both).
struct ShimFile {
  sqlite3_file base;
  sqlite3_file* real;
  FaultInjector* injector;
  FaultInjector::Files kind;
};

sqlite3_vfs* real_vfs(sqlite3_vfs* vfs) { return reinterpret_cast<ShimVfs*>(vfs)->real; }
ShimFile* shim(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f); }
sqlite3_file* real(sqlite3_file* f) { return shim(f)->real; }

// ------------------------------------------------------------------ files

int x_close(sqlite3_file* f) {
  sqlite3_file* r = real(f);
  return r->pMethods != nullptr ? r->pMethods->xClose(r) : SQLITE_OK;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return real(f)->pMethods->xRead(real(f), buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (const int rc = shim(f)->injector->on_call(FaultInjector::Op::kWrite, shim(f)->kind)) {
    return rc;
  }
  return real(f)->pMethods->xWrite(real(f), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (const int rc = shim(f)->injector->on_call(FaultInjector::Op::kTruncate, shim(f)->kind)) {
    return rc;
  }
  return real(f)->pMethods->xTruncate(real(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
  if (const int rc = shim(f)->injector->on_call(FaultInjector::Op::kSync, shim(f)->kind)) {
    return rc;
  }
  return real(f)->pMethods->xSync(real(f), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real(f)->pMethods->xFileSize(real(f), size);
}
int x_lock(sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); }
int x_unlock(sqlite3_file* f, int level) { return real(f)->pMethods->xUnlock(real(f), level); }
int x_check_reserved_lock(sqlite3_file* f, int* out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_device_characteristics(sqlite3_file* f) {
  return real(f)->pMethods->xDeviceCharacteristics(real(f));
}
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  const sqlite3_io_methods* m = real(f)->pMethods;
  return m->iVersion >= 2 ? m->xShmMap(real(f), region, size, extend, out) : SQLITE_IOERR;
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  const sqlite3_io_methods* m = real(f)->pMethods;
  return m->iVersion >= 2 ? m->xShmLock(real(f), offset, n, flags) : SQLITE_IOERR;
}
void x_shm_barrier(sqlite3_file* f) {
  const sqlite3_io_methods* m = real(f)->pMethods;
  if (m->iVersion >= 2) m->xShmBarrier(real(f));
}
int x_shm_unmap(sqlite3_file* f, int remove) {
  const sqlite3_io_methods* m = real(f)->pMethods;
  return m->iVersion >= 2 ? m->xShmUnmap(real(f), remove) : SQLITE_OK;
}
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  const sqlite3_io_methods* m = real(f)->pMethods;
  if (m->iVersion < 3) {
    *out = nullptr;
    return SQLITE_OK;
  }
  return m->xFetch(real(f), off, n, out);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  const sqlite3_io_methods* m = real(f)->pMethods;
  return m->iVersion >= 3 ? m->xUnfetch(real(f), off, p) : SQLITE_OK;
}

const sqlite3_io_methods kShimMethods = {
    3,  // iVersion: shared memory (WAL) and memory-mapped reads
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    x_fetch,
    x_unfetch,
};

// -------------------------------------------------------------------- vfs

int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  ShimFile* s = shim(f);
  s->base.pMethods = nullptr;
  s->real = reinterpret_cast<sqlite3_file*>(s + 1);
  s->injector = static_cast<FaultInjector*>(vfs->pAppData);
  s->kind = (flags & SQLITE_OPEN_MAIN_DB) != 0 ? FaultInjector::Files::kMainDb
            : (flags & SQLITE_OPEN_WAL) != 0   ? FaultInjector::Files::kWal
                                               : FaultInjector::Files::kAll;
  std::memset(s->real, 0, static_cast<std::size_t>(real_vfs(vfs)->szOsFile));
  const int rc = real_vfs(vfs)->xOpen(real_vfs(vfs), name, s->real, flags, out_flags);
  if (s->real->pMethods != nullptr) s->base.pMethods = &kShimMethods;
  return rc;
}
int x_delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return real_vfs(vfs)->xDelete(real_vfs(vfs), name, sync_dir);
}
int x_access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return real_vfs(vfs)->xAccess(real_vfs(vfs), name, flags, out);
}
int x_full_pathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  return real_vfs(vfs)->xFullPathname(real_vfs(vfs), name, n, out);
}
void* x_dl_open(sqlite3_vfs* vfs, const char* name) {
  return real_vfs(vfs)->xDlOpen(real_vfs(vfs), name);
}
void x_dl_error(sqlite3_vfs* vfs, int n, char* out) {
  real_vfs(vfs)->xDlError(real_vfs(vfs), n, out);
}
void (*x_dl_sym(sqlite3_vfs* vfs, void* h, const char* sym))(void) {
  return real_vfs(vfs)->xDlSym(real_vfs(vfs), h, sym);
}
void x_dl_close(sqlite3_vfs* vfs, void* h) { real_vfs(vfs)->xDlClose(real_vfs(vfs), h); }
int x_randomness(sqlite3_vfs* vfs, int n, char* out) {
  return real_vfs(vfs)->xRandomness(real_vfs(vfs), n, out);
}
int x_sleep(sqlite3_vfs* vfs, int us) { return real_vfs(vfs)->xSleep(real_vfs(vfs), us); }
int x_current_time(sqlite3_vfs* vfs, double* out) {
  return real_vfs(vfs)->xCurrentTime(real_vfs(vfs), out);
}
int x_get_last_error(sqlite3_vfs* vfs, int n, char* out) {
  return real_vfs(vfs)->xGetLastError(real_vfs(vfs), n, out);
}
int x_current_time_int64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  sqlite3_vfs* r = real_vfs(vfs);
  if (r->iVersion >= 2 && r->xCurrentTimeInt64 != nullptr) return r->xCurrentTimeInt64(r, out);
  double days = 0;
  const int rc = r->xCurrentTime(r, &days);
  *out = static_cast<sqlite3_int64>(days * 86400000.0);
  return rc;
}

std::atomic<int> next_id{0};

}  // namespace

FaultInjector::FaultInjector() {
  sqlite3_vfs* r = sqlite3_vfs_find(nullptr);
  if (r == nullptr) throw StoreError(ErrorCode::kInternal, "no default SQLite VFS");
  auto* v = new ShimVfs{};
  v->real = r;
  v->name = "keel-fault-" + std::to_string(next_id.fetch_add(1));
  name_ = v->name;
  sqlite3_vfs& b = v->base;
  b.iVersion = 2;
  b.szOsFile = static_cast<int>(sizeof(ShimFile)) + r->szOsFile;
  b.mxPathname = r->mxPathname;
  b.zName = v->name.c_str();
  b.pAppData = this;
  b.xOpen = x_open;
  b.xDelete = x_delete;
  b.xAccess = x_access;
  b.xFullPathname = x_full_pathname;
  b.xDlOpen = x_dl_open;
  b.xDlError = x_dl_error;
  b.xDlSym = x_dl_sym;
  b.xDlClose = x_dl_close;
  b.xRandomness = x_randomness;
  b.xSleep = x_sleep;
  b.xCurrentTime = x_current_time;
  b.xGetLastError = x_get_last_error;
  b.xCurrentTimeInt64 = x_current_time_int64;
  const int rc = sqlite3_vfs_register(&b, 0);
  if (rc != SQLITE_OK) {
    delete v;
    throw StoreError(ErrorCode::kInternal, "cannot register the fault-injection VFS");
  }
  vfs_ = v;
}

FaultInjector::~FaultInjector() {
  auto* v = static_cast<ShimVfs*>(vfs_);
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

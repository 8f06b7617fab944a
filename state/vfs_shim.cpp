// keel/state/vfs_shim.cpp — see vfs_shim.h.
#include "state/vfs_shim.h"

#include <cstring>

namespace keel::state::vfs_shim {
namespace {

// ------------------------------------------------------------------ files

int x_close(sqlite3_file* f) {
  sqlite3_file* b = below(f);
  return b->pMethods != nullptr ? b->pMethods->xClose(b) : SQLITE_OK;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return below(f)->pMethods->xRead(below(f), buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  return below(f)->pMethods->xWrite(below(f), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return below(f)->pMethods->xTruncate(below(f), size);
}
int x_sync(sqlite3_file* f, int flags) { return below(f)->pMethods->xSync(below(f), flags); }
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return below(f)->pMethods->xFileSize(below(f), size);
}
int x_lock(sqlite3_file* f, int level) { return below(f)->pMethods->xLock(below(f), level); }
int x_unlock(sqlite3_file* f, int level) { return below(f)->pMethods->xUnlock(below(f), level); }
int x_check_reserved_lock(sqlite3_file* f, int* out) {
  return below(f)->pMethods->xCheckReservedLock(below(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return below(f)->pMethods->xFileControl(below(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return below(f)->pMethods->xSectorSize(below(f)); }
int x_device_characteristics(sqlite3_file* f) {
  return below(f)->pMethods->xDeviceCharacteristics(below(f));
}
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  const sqlite3_io_methods* m = below(f)->pMethods;
  return m->iVersion >= 2 ? m->xShmMap(below(f), region, size, extend, out) : SQLITE_IOERR;
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  const sqlite3_io_methods* m = below(f)->pMethods;
  return m->iVersion >= 2 ? m->xShmLock(below(f), offset, n, flags) : SQLITE_IOERR;
}
void x_shm_barrier(sqlite3_file* f) {
  const sqlite3_io_methods* m = below(f)->pMethods;
  if (m->iVersion >= 2) m->xShmBarrier(below(f));
}
int x_shm_unmap(sqlite3_file* f, int remove) {
  const sqlite3_io_methods* m = below(f)->pMethods;
  return m->iVersion >= 2 ? m->xShmUnmap(below(f), remove) : SQLITE_OK;
}
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  const sqlite3_io_methods* m = below(f)->pMethods;
  if (m->iVersion < 3) {
    *out = nullptr;
    return SQLITE_OK;
  }
  return m->xFetch(below(f), off, n, out);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  const sqlite3_io_methods* m = below(f)->pMethods;
  return m->iVersion >= 3 ? m->xUnfetch(below(f), off, p) : SQLITE_OK;
}

// -------------------------------------------------------------------- vfs

int x_delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return below(vfs)->xDelete(below(vfs), name, sync_dir);
}
int x_access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return below(vfs)->xAccess(below(vfs), name, flags, out);
}
int x_full_pathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  return below(vfs)->xFullPathname(below(vfs), name, n, out);
}
void* x_dl_open(sqlite3_vfs* vfs, const char* name) {
  return below(vfs)->xDlOpen(below(vfs), name);
}
void x_dl_error(sqlite3_vfs* vfs, int n, char* out) { below(vfs)->xDlError(below(vfs), n, out); }
void (*x_dl_sym(sqlite3_vfs* vfs, void* h, const char* sym))(void) {
  return below(vfs)->xDlSym(below(vfs), h, sym);
}
void x_dl_close(sqlite3_vfs* vfs, void* h) { below(vfs)->xDlClose(below(vfs), h); }
int x_randomness(sqlite3_vfs* vfs, int n, char* out) {
  return below(vfs)->xRandomness(below(vfs), n, out);
}
int x_sleep(sqlite3_vfs* vfs, int us) { return below(vfs)->xSleep(below(vfs), us); }
int x_current_time(sqlite3_vfs* vfs, double* out) {
  return below(vfs)->xCurrentTime(below(vfs), out);
}
int x_get_last_error(sqlite3_vfs* vfs, int n, char* out) {
  return below(vfs)->xGetLastError(below(vfs), n, out);
}
int x_current_time_int64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  sqlite3_vfs* b = below(vfs);
  if (b->iVersion >= 2 && b->xCurrentTimeInt64 != nullptr) return b->xCurrentTimeInt64(b, out);
  double days = 0;
  const int rc = b->xCurrentTime(b, &days);
  *out = static_cast<sqlite3_int64>(days * 86400000.0);
  return rc;
}

}  // namespace

sqlite3_io_methods forwarding_io_methods() {
  return sqlite3_io_methods{
      3,
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
}

void init(ShimVfs& vfs, sqlite3_vfs* below_vfs, std::size_t file_struct_size,
          int (*open)(sqlite3_vfs*, const char*, sqlite3_file*, int, int*)) {
  vfs.below = below_vfs;
  sqlite3_vfs& b = vfs.base;
  std::memset(&b, 0, sizeof b);
  b.iVersion = 2;
  b.szOsFile = static_cast<int>(file_struct_size) + below_vfs->szOsFile;
  b.mxPathname = below_vfs->mxPathname;
  b.zName = vfs.name.c_str();
  b.xOpen = open;
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
}

int open_below(sqlite3_vfs* vfs, std::size_t file_struct_size, const char* name,
               sqlite3_file* f, int flags, int* out_flags, const sqlite3_io_methods* methods) {
  auto* s = reinterpret_cast<ShimFile*>(f);
  s->base.pMethods = nullptr;
  s->below = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + file_struct_size);
  std::memset(s->below, 0, static_cast<std::size_t>(below(vfs)->szOsFile));
  const int rc = below(vfs)->xOpen(below(vfs), name, s->below, flags, out_flags);
  if (s->below->pMethods != nullptr) s->base.pMethods = methods;
  return rc;
}

}  // namespace keel::state::vfs_shim

// keel/state/wal_write_buffer.cpp — see wal_write_buffer.h.
#include "state/wal_write_buffer.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "state/principal.h"
#include "state/vfs_shim.h"

namespace keel::state {
namespace {

// A flush happens at the latest when the buffer holds this much.
constexpr std::size_t kMaxBytes = 4u << 20;
// SQLite's unix VFS writes at most 0x1ffff bytes per call (seekAndWriteFd
// masks the length; a longer write comes back short, as SQLITE_FULL).
constexpr std::size_t kMaxWrite = 124u << 10;

// SQLite's struct first (in the ShimFile), then the file below.
struct BufferFile {
  vfs_shim::ShimFile shim;
  bool is_wal;
  // Buffered bytes belong at [start, start + bytes->size()). Non-null only
  // once enabled (WAL files only).
  std::vector<char>* bytes;
  sqlite3_int64 start;
};

BufferFile* file_of(sqlite3_file* f) { return reinterpret_cast<BufferFile*>(f); }
sqlite3_file* real(sqlite3_file* f) { return vfs_shim::below(f); }

// Writes the buffered bytes out; the buffer is empty afterwards either way.
int flush(sqlite3_file* f) {
  BufferFile* b = file_of(f);
  if (b->bytes == nullptr || b->bytes->empty()) return SQLITE_OK;
  int rc = SQLITE_OK;
  for (std::size_t done = 0; done < b->bytes->size() && rc == SQLITE_OK; done += kMaxWrite) {
    const std::size_t n = std::min(kMaxWrite, b->bytes->size() - done);
    rc = real(f)->pMethods->xWrite(real(f), b->bytes->data() + done, static_cast<int>(n),
                                   b->start + static_cast<sqlite3_int64>(done));
  }
  b->bytes->clear();
  return rc;
}

int x_close(sqlite3_file* f) {
  const int flushed = flush(f);
  delete file_of(f)->bytes;
  file_of(f)->bytes = nullptr;
  sqlite3_file* r = real(f);
  const int closed = r->pMethods != nullptr ? r->pMethods->xClose(r) : SQLITE_OK;
  return flushed != SQLITE_OK ? flushed : closed;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  const int rc = flush(f);
  if (rc != SQLITE_OK) return rc;
  return real(f)->pMethods->xRead(real(f), buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  BufferFile* b = file_of(f);
  if (b->bytes != nullptr) {
    if (b->bytes->empty()) b->start = off;
    if (off == b->start + static_cast<sqlite3_int64>(b->bytes->size()) &&
        b->bytes->size() + static_cast<std::size_t>(n) <= kMaxBytes) {
      const char* p = static_cast<const char*>(buf);
      b->bytes->insert(b->bytes->end(), p, p + n);
      return SQLITE_OK;
    }
    // Not an append to what is buffered (SQLite rewriting a frame of this
    // transaction, or restarting the WAL), or too much: out in file order.
    const int rc = flush(f);
    if (rc != SQLITE_OK) return rc;
  }
  return real(f)->pMethods->xWrite(real(f), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  const int rc = flush(f);
  if (rc != SQLITE_OK) return rc;
  return real(f)->pMethods->xTruncate(real(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
  const int rc = flush(f);
  if (rc != SQLITE_OK) return rc;
  return real(f)->pMethods->xSync(real(f), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  const int rc = flush(f);
  if (rc != SQLITE_OK) return rc;
  return real(f)->pMethods->xFileSize(real(f), size);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  const int rc = flush(f);
  if (rc != SQLITE_OK) return rc;
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
const sqlite3_io_methods kMethods = [] {
  sqlite3_io_methods m = vfs_shim::forwarding_io_methods();
  m.xClose = x_close;
  m.xRead = x_read;
  m.xWrite = x_write;
  m.xTruncate = x_truncate;
  m.xSync = x_sync;
  m.xFileSize = x_file_size;
  m.xFileControl = x_file_control;
  return m;
}();

int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  BufferFile* b = file_of(f);
  b->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
  b->bytes = nullptr;
  b->start = 0;
  return vfs_shim::open_below(vfs, sizeof(BufferFile), name, f, flags, out_flags, &kMethods);
}

std::mutex g_mu;
// Parent VFS name ("" for the default) -> its buffering VFS; guarded by g_mu.
// Registered VFSes are never freed: SQLite may hold them until exit.
std::map<std::string, std::unique_ptr<vfs_shim::ShimVfs>>& registry() {
  static auto* map = new std::map<std::string, std::unique_ptr<vfs_shim::ShimVfs>>();
  return *map;
}

}  // namespace

const char* wal_write_buffer_vfs(const char* parent_name) {
  std::lock_guard<std::mutex> lock(g_mu);
  const std::string key = parent_name != nullptr ? parent_name : "";
  auto& slot = registry()[key];
  if (slot) return slot->name.c_str();
  sqlite3_vfs* parent = sqlite3_vfs_find(parent_name);
  if (parent == nullptr) {
    registry().erase(key);
    throw StoreError(ErrorCode::kInternal, "no SQLite VFS named " + key);
  }
  auto v = std::make_unique<vfs_shim::ShimVfs>();
  v->name = "keel-walbuf-" + (key.empty() ? std::string("default") : key);
  vfs_shim::init(*v, parent, sizeof(BufferFile), x_open);
  if (sqlite3_vfs_register(&v->base, 0) != SQLITE_OK) {
    registry().erase(key);
    throw StoreError(ErrorCode::kInternal, "cannot register the WAL write-buffer VFS");
  }
  slot = std::move(v);
  return slot->name.c_str();
}

bool enable_wal_write_buffer(sqlite3* db) {
  sqlite3_file* wal = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
      wal == nullptr || wal->pMethods != &kMethods || !file_of(wal)->is_wal) {
    return false;
  }
  BufferFile* b = file_of(wal);
  if (b->bytes == nullptr) b->bytes = new std::vector<char>();
  b->bytes->reserve(256u << 10);
  return true;
}

}  // namespace keel::state

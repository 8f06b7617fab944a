// keel/state/vfs_shim.h — the plumbing of keel's SQLite VFS shims
// (fault_vfs.h, wal_write_buffer.h).
//
// A shim is a VFS registered over another one (the VFS below). Its VFS
// struct starts with a ShimVfs and its file struct with a ShimFile; the file
// of the VFS below lives in the same allocation right after the shim's own
// struct (szOsFile covers both). Everything a shim does not change forwards
// to the VFS below through the tables built here, so a shim states only
// what it does differently.
//
// Thread safety: the tables are immutable; a file is used by one connection
// at a time, as SQLite guarantees for every VFS.
#pragma once

#include <cstddef>
#include <string>

#include <sqlite3.h>

namespace keel::state::vfs_shim {

struct ShimVfs {
  sqlite3_vfs base;  // first: SQLite hands us its address
  sqlite3_vfs* below = nullptr;
  std::string name;
};

struct ShimFile {
  sqlite3_file base;  // first: SQLite hands us its address
  sqlite3_file* below;
};

inline sqlite3_file* below(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->below; }
inline sqlite3_vfs* below(sqlite3_vfs* vfs) { return reinterpret_cast<ShimVfs*>(vfs)->below; }

// An io-methods table (version 3: WAL shared memory, memory-mapped reads)
// whose every entry forwards to the file below; a shim copies it and
// replaces the entries it changes.
sqlite3_io_methods forwarding_io_methods();

// Fills vfs.base to forward every call but xOpen (set to `open`) to `below`,
// under vfs.name, with files of file_struct_size bytes (the shim's own file
// struct, which starts with a ShimFile) plus the below VFS's.
void init(ShimVfs& vfs, sqlite3_vfs* below, std::size_t file_struct_size,
          int (*open)(sqlite3_vfs*, const char*, sqlite3_file*, int, int*));

// For a shim's xOpen: points the ShimFile at the file below (right after
// file_struct_size bytes), opens it through the VFS below, and installs
// `methods` if it opened (SQLite closes only files that have methods).
int open_below(sqlite3_vfs* vfs, std::size_t file_struct_size, const char* name,
               sqlite3_file* f, int flags, int* out_flags, const sqlite3_io_methods* methods);

}  // namespace keel::state::vfs_shim

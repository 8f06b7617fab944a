// keel/state/wal_write_buffer.h — one pwrite per commit instead of two per
// WAL page.
//
// SQLite appends a commit to the WAL as two pwrite(2)s per page (a 24-byte
// frame header, then the page). A lease acquire+release batch of 16 jobs
// writes ~66 pages, so ~130 system calls, which on our virtual machines cost
// more than the fdatasync that follows (bench/README.md, "Where the time of a
// durable SQLite write went"). This VFS shim keeps contiguous appends to a
// WAL in memory and hands them to the file system as one write just before
// anything can depend on them being in the file:
//
//   * xSync of the WAL (with synchronous=FULL SQLite syncs the WAL at every
//     commit, before it publishes the new frames in the shared WAL index, so
//     no reader — in this process or another — can look for a frame that is
//     still in the buffer);
//   * any other call on the WAL (xRead, xFileSize, xTruncate, xFileControl,
//     xClose), a write that is not a plain append, or a buffer past kMaxBytes.
//
// Buffering is per file and off by default: a connection turns it on for its
// WAL with enable_wal_write_buffer() only when it runs with
// synchronous=FULL (under NORMAL SQLite does not sync at commit, so nothing
// would flush before the index is published). A failed flush drops the
// buffer and returns the error to the call that flushed (the commit then
// fails as if its write had failed; GroupCommitWriter handles that).
//
// Thread safety: the VFS is registered once per parent VFS, process-wide,
// under a lock; each file is used by one connection at a time, as SQLite
// guarantees for every VFS file.
#pragma once

#include <sqlite3.h>

namespace keel::state {

// The name of the buffering VFS stacked over `parent` (nullptr: SQLite's
// default VFS), registering it on first use (never the default VFS). The
// parent must stay registered while files opened through it are open.
const char* wal_write_buffer_vfs(const char* parent);

// Turns buffering on for the WAL of `db`'s main database, which must have
// been opened through wal_write_buffer_vfs() and be in WAL mode with its WAL
// open (after the first read). Returns false (and changes nothing) otherwise.
bool enable_wal_write_buffer(sqlite3* db);

}  // namespace keel::state

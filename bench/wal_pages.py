#!/usr/bin/env python3
"""Which B-trees a SQLite WAL's frames belong to: pages written per commit.

Usage: bench/wal_pages.py DB   (reads DB and DB-wal; copy both while a
benchmark runs, since closing the store checkpoints and deletes the WAL)

Every frame of the WAL file is counted, also those of an earlier WAL
generation still in the file (same workload, so the same mix); page numbers
are mapped to tables and indexes through SQLite's dbstat table on DB.
"""
import collections
import sqlite3
import struct
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    db = sys.argv[1]
    with open(db + "-wal", "rb") as f:
        wal = f.read()
    if len(wal) < 32:
        print(f"{db}-wal: no WAL header", file=sys.stderr)
        return 1
    page_size = struct.unpack(">I", wal[8:12])[0]
    frames = []  # (page number, is commit frame)
    off = 32
    while off + 24 + page_size <= len(wal):
        page, commit_size = struct.unpack(">II", wal[off:off + 8])
        frames.append((page, commit_size != 0))
        off += 24 + page_size
    owner = dict(sqlite3.connect(db).execute("SELECT pageno, name FROM dbstat"))
    commits = max(1, sum(1 for _, c in frames if c))
    by_tree = collections.Counter(owner.get(p, "(free or new)") for p, _ in frames)
    print(f"{len(frames)} frames, {commits} commits, {len(frames) / commits:.1f} frames per commit")
    print(f"{'table or index':40s} {'frames':>8s} {'per commit':>11s}")
    for name, n in by_tree.most_common():
        print(f"{name:40s} {n:8d} {n / commits:11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

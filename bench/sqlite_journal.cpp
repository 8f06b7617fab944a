// bench/sqlite_journal.cpp — the floor for keel's durable journal appends:
// plain SQLite, one row per commit, WAL with synchronous=FULL (keel's own
// settings), no group commit. Each of --threads threads has its own
// connection (busy_timeout 10 s) and appends `INSERT` + `COMMIT` in a loop
// until --seconds or --max-ops, whichever comes first. Prints one JSON line
// {ops, seconds, ops_per_s, p50_ms, p99_ms, max_ms, threads}.
//
// Usage: sqlite_journal [--dir DIR] [--threads 1] [--seconds 3] [--max-ops 20000]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>
#include <unistd.h>

#include "bench/bench_util.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw std::runtime_error(std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  }
}

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(std::string(sql) + ": " + msg);
  }
}

sqlite3* open_db(const fs::path& file) {
  sqlite3* db = nullptr;
  check(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr),
        db, "open");
  sqlite3_busy_timeout(db, 10'000);
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, "PRAGMA synchronous=FULL");
  return db;
}

[[noreturn]] void usage(const std::string& why) {
  keel::bench::usage_exit(
      "sqlite_journal", why,
      "usage: sqlite_journal [--dir DIR] [--threads 1] [--seconds 3] [--max-ops N]\n");
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir;
  int threads = 1;
  double seconds = 3;
  std::int64_t max_ops = 20'000;
  keel::bench::parse_flags(argc, argv, usage, [&](const std::string& a, const auto& next) {
    if (a == "--dir") dir = next();
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--seconds") seconds = std::stod(next());
    else if (a == "--max-ops") max_ops = std::stoll(next());
    else usage("unknown argument " + a);
  });
  if (threads < 1 || threads > 256 || seconds <= 0 || max_ops < 1) usage("bad options");
  const bool own_dir = dir.empty();
  if (own_dir) {
    std::string tmpl = (fs::temp_directory_path() / "keel-sqlite-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
  }
  fs::create_directories(dir);
  const fs::path file = dir / "journal.db";
  int rc = 0;
  try {
    sqlite3* db = open_db(file);
    exec(db,
         "CREATE TABLE IF NOT EXISTS journal(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, "
         "principal TEXT NOT NULL, op TEXT NOT NULL, subject TEXT NOT NULL, payload TEXT NOT NULL)");
    sqlite3_close(db);

    std::atomic<std::int64_t> claimed{0};
    std::mutex err_mu;
    std::string first_error;
    std::vector<std::vector<double>> lat(static_cast<std::size_t>(threads));
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        sqlite3* c = nullptr;
        sqlite3_stmt* ins = nullptr;
        try {
          c = open_db(file);
          check(sqlite3_prepare_v2(c,
                                   "INSERT INTO journal(ts, principal, op, subject, payload) "
                                   "VALUES(?1, ?2, 'BENCH', 'bench:journal', ?3)",
                                   -1, &ins, nullptr),
                c, "prepare");
          const std::string who = "bench-" + std::to_string(t);
          auto& mine = lat[static_cast<std::size_t>(t)];
          while (Clock::now() < deadline) {
            const std::int64_t i = claimed.fetch_add(1);
            if (i >= max_ops) break;
            const std::string payload = "{\"i\":" + std::to_string(i) + ",\"thread\":" +
                                        std::to_string(t) + ",\"note\":\"sqlite_journal append\"}";
            const auto t0 = Clock::now();
            // Autocommit: one row, one transaction, one WAL fsync.
            sqlite3_bind_int64(ins, 1, std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
            sqlite3_bind_text(ins, 2, who.c_str(), -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 3, payload.c_str(), -1, SQLITE_TRANSIENT);
            check(sqlite3_step(ins), c, "insert");
            sqlite3_reset(ins);
            mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          }
        } catch (const std::exception& e) {
          std::lock_guard lock(err_mu);
          if (first_error.empty()) first_error = e.what();
        }
        sqlite3_finalize(ins);
        sqlite3_close(c);
      });
    }
    for (auto& th : pool) th.join();
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    if (!first_error.empty()) throw std::runtime_error(first_error);
    const keel::bench::LatencySummary l = keel::bench::summarize(lat);
    std::printf(
        "{\"ops\":%zu,\"seconds\":%.3f,\"ops_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
        "\"max_ms\":%.3f,\"threads\":%d}\n",
        l.count, secs, secs > 0 ? static_cast<double>(l.count) / secs : 0.0, l.p50, l.p99, l.max,
        threads);
  } catch (const std::exception& e) {
    std::cerr << "sqlite_journal: " << e.what() << "\n";
    rc = 1;
  }
  if (own_dir) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  return rc;
}

// Shared fixtures of the state kernel's unit tests (tests/unit/state_*.cpp).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include "state/clock.h"
#include "state/store.h"

namespace keel::state::testing {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "keel-state-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline Principal agent(const std::string& name, const std::string& session = "s1",
                       const std::string& project = "/proj") {
  return Principal{name, project, session, default_agent_capabilities()};
}

inline Principal admin(const std::string& name = "human", const std::string& project = "/proj") {
  const auto& all = all_capabilities();
  return Principal{name, project, "", std::set<std::string>(all.begin(), all.end())};
}

// A store in a temp dir with a ManualClock.
struct StoreEnv {
  TempDir dir;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::unique_ptr<Store> store;

  StoreEnv() { open(); }

  StoreOptions options() const {
    StoreOptions o;
    o.dir = dir.path() / "state";
    o.clock = clock;
    return o;
  }
  void open() { store = open_sqlite_store(options()); }
  void close() { store.reset(); }
  void reopen() {
    close();
    open();
  }
  std::filesystem::path db_path() const { return dir.path() / "state" / "keel.db"; }

  // Runs SQL on the database file behind the store's back.
  void raw_sql(const std::string& sql) const {
    sqlite3* db = nullptr;
    if (sqlite3_open(db_path().c_str(), &db) != SQLITE_OK) {
      sqlite3_close(db);
      throw std::runtime_error("cannot open db");
    }
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    const std::string msg = err != nullptr ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    if (rc != SQLITE_OK) throw std::runtime_error("raw sql failed: " + msg);
  }
};

inline AcquireRequest acquire(const std::string& name, std::int64_t ttl_ms = 60'000,
                              LeaseMode mode = LeaseMode::kExclusive) {
  AcquireRequest r;
  r.name = name;
  r.ttl_ms = ttl_ms;
  r.mode = mode;
  return r;
}

// The journal, oldest record first: all of it, or the records of `op`.
inline std::vector<JournalRecord> journal_records(Store& s, std::string_view op = {}) {
  JournalFilter f;
  if (!op.empty()) f.op = std::string(op);
  f.limit = 10000;
  f.newest_first = false;
  return s.journal_query(admin(), f);
}

// The newest journal record of `op`, if there is one.
inline std::optional<JournalRecord> newest_record(Store& s, std::string_view op) {
  JournalFilter f;
  f.op = std::string(op);
  f.limit = 1;
  const std::vector<JournalRecord> newest = s.journal_query(admin(), f);
  if (newest.empty()) return std::nullopt;
  return newest.front();
}

// Runs body(t, agent("agent<t>")) for t in [0, threads) on as many threads at
// once, and joins them.
template <class Body>
void on_agent_threads(int threads, const Body& body) {
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&body, t] { body(t, agent("agent" + std::to_string(t))); });
  }
  for (std::thread& thread : running) thread.join();
}

// Thread t's put number i in a concurrency test: key "k<i>", value {t, i}.
inline PutRequest numbered_put(int t, int i) {
  PutRequest r;
  r.key = "k" + std::to_string(i);
  r.value = boost::json::object{{"t", t}, {"i", i}};
  return r;
}

// The cast of most store tests: a fresh store and the agents alice and bob.
// For TEST_CASE_METHOD.
struct AliceAndBob {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  const Principal b = agent("bob");
};

}  // namespace keel::state::testing

// REQUIRE that `expr` throws StoreError with `code`.
#define REQUIRE_STORE_ERROR(expr, error_code)                      \
  do {                                                             \
    bool keel_thrown_ = false;                                     \
    try {                                                          \
      (void)(expr);                                                \
    } catch (const ::keel::state::StoreError& keel_e_) {           \
      keel_thrown_ = true;                                         \
      INFO(keel_e_.what());                                        \
      REQUIRE(keel_e_.code() == (error_code));                     \
    }                                                              \
    REQUIRE(keel_thrown_);                                         \
  } while (false)

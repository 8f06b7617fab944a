// Shared fixtures of the state kernel's unit tests (tests/unit/state_*.cpp).
//
// Backends: every store a state test opens goes through open_test_store(),
// which opens the embedded SQLite store in options.dir, or, when the env
// KEEL_TEST_STORE_URL holds a PostgreSQL URL (a superuser's or any role's that
// may create schemas), the PostgreSQL store on a schema of its own derived
// from options.dir (test_schema_for): a fresh TempDir is a fresh, empty schema
// and reopening the same dir reopens the same data, as a state directory does
// on SQLite. Cases that only make sense on SQLite (the fault VFS, group-commit
// internals, the database file itself) carry the tag [sqlite-only]; the
// PostgreSQL run is `KEEL_TEST_STORE_URL=... keel_state_tests "~[sqlite-only]"`
// (scripts/test). The schemas a run created are dropped when it exits, unless
// KEEL_TEST_KEEP_SCHEMAS=1.
//
// The functions that reach PostgreSQL are inline and used only by the state
// tests (the one binary linked with keel_state_pg); the hooks and cli tests
// include this header for TempDir and the principals alone.
#pragma once

#include <cstdlib>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include "crypto/sha256.h"
#include "state/clock.h"
#include "state/postgres/pg_util.h"
#include "state/store.h"

namespace keel::state::testing {

// The PostgreSQL URL the state tests run against, or nullopt for SQLite.
inline std::optional<std::string> test_store_url() {
  const char* url = std::getenv("KEEL_TEST_STORE_URL");
  if (url == nullptr || *url == '\0') return std::nullopt;
  return std::string(url);
}

inline bool testing_postgres() { return test_store_url().has_value(); }

// The schema the PostgreSQL store of state directory `dir` lives in:
// "k_" and the first 16 hex digits of SHA-256 of the path (a valid unquoted
// identifier, the same on every open of the same dir).
inline std::string test_schema_for(const std::filesystem::path& dir) {
  return "k_" + crypto::sha256_hex(dir.lexically_normal().string()).substr(0, 16);
}

// `url` with its search_path set to `schema`: for a postgres:// URL the query
// parameter options=-csearch_path%3D<schema> (after ? or &), for a libpq
// key=value string the keyword options. A URL that sets options itself is
// refused (libpq would keep only one of the two).
inline std::string url_with_search_path(const std::string& url, const std::string& schema) {
  if (url.find("options=") != std::string::npos) {
    throw std::invalid_argument("KEEL_TEST_STORE_URL must not set options= (the tests set search_path)");
  }
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    const char sep = url.find('?') == std::string::npos ? '?' : '&';
    return url + sep + "options=-csearch_path%3D" + schema;
  }
  return url + " options='-csearch_path=" + schema + "'";
}

// The schemas this run opened stores on; dropped when the process exits.
class TestSchemas {
 public:
  static TestSchemas& instance() {
    static TestSchemas schemas;
    return schemas;
  }
  void add(const std::string& schema) {
    std::lock_guard<std::mutex> lock(mu_);
    schemas_.insert(schema);
  }
  ~TestSchemas() {
    const std::optional<std::string> url = test_store_url();
    const char* keep = std::getenv("KEEL_TEST_KEEP_SCHEMAS");
    if (!url || schemas_.empty() || (keep != nullptr && std::string(keep) == "1")) return;
    try {
      pg::Connection c = pg::Connection::open(*url, pg::ConnectOptions{});
      c.exec("SET lock_timeout = '2s'");  // a store left open must not hang the exit
      for (const std::string& schema : schemas_) {
        try {
          c.exec("DROP SCHEMA IF EXISTS " + c.quote_identifier(schema) + " CASCADE");
        } catch (const std::exception&) {
          // Best effort: a leftover schema costs only space.
        }
      }
    } catch (const std::exception&) {
    }
  }

 private:
  TestSchemas() = default;
  std::mutex mu_;
  std::set<std::string> schemas_;
};

// The store of a state test: SQLite in options.dir, or PostgreSQL (see the
// file comment) when KEEL_TEST_STORE_URL is set.
inline std::unique_ptr<Store> open_test_store(StoreOptions options) {
  const std::optional<std::string> url = test_store_url();
  if (!url) return open_sqlite_store(options);
  const std::string schema = test_schema_for(options.dir);
  TestSchemas::instance().add(schema);
  options.url = url_with_search_path(*url, schema);
  return open_postgres_store(options);
}

// A connection to the PostgreSQL schema of state directory `dir`, behind the
// store's back (tests that tamper with the tables or check where data went).
inline pg::Connection connect_test_schema(const std::filesystem::path& dir) {
  const std::optional<std::string> url = test_store_url();
  if (!url) throw std::logic_error("connect_test_schema: KEEL_TEST_STORE_URL is unset");
  return pg::Connection::open(url_with_search_path(*url, test_schema_for(dir)),
                              pg::ConnectOptions{});
}

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
  void open() { store = open_test_store(options()); }
  void close() { store.reset(); }
  void reopen() {
    close();
    open();
  }
  std::filesystem::path db_path() const { return dir.path() / "state" / "keel.db"; }

  // Runs SQL on the store's database behind its back: the SQLite file, or
  // the PostgreSQL schema of this directory (statements without parameters,
  // several allowed; the tables are the same on both, but for the journal's
  // head: SQLite's meta row 'journal_head_hash', PostgreSQL's chain_heads).
  void raw_sql(const std::string& sql) const {
    if (testing_postgres()) {
      pg::Connection c = connect_test_schema(options().dir);
      c.exec(sql);
      return;
    }
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

// A thread of a test: join() rethrows what its body threw, so that a store
// error on a helper thread fails the case with its message instead of
// terminating the whole binary (as an exception escaping a std::thread
// does). Joined on destruction if the case ended early (a failed REQUIRE).
// Not movable (the body writes into this object); keep them in a deque.
class TestThread {
 public:
  template <class Fn>
  explicit TestThread(Fn fn)
      : thread_([this, fn = std::move(fn)]() mutable {
          try {
            fn();
          } catch (...) {
            error_ = std::current_exception();
          }
        }) {}
  ~TestThread() {
    if (thread_.joinable()) thread_.join();
  }
  TestThread(const TestThread&) = delete;
  TestThread& operator=(const TestThread&) = delete;
  void join() {
    thread_.join();
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  std::exception_ptr error_;
  std::thread thread_;  // last: starts once error_ exists
};

// Runs body(t, agent("agent<t>")) for t in [0, threads) on as many threads at
// once, joins them all, and rethrows the first error one of them threw.
template <class Body>
void on_agent_threads(int threads, const Body& body) {
  std::deque<TestThread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&body, t] { body(t, agent("agent" + std::to_string(t))); });
  }
  std::exception_ptr first;
  for (TestThread& thread : running) {
    try {
      thread.join();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
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

// I/O faults under the SQLite store (state/fault_vfs.h): a write, fsync or
// truncate that fails while a call commits makes the call throw, leaves
// nothing half-written, and the store works again once the disk does.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "state/fault_vfs.h"
#include "state/group_commit_writer.h"
#include "state/sqlite_util.h"
#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;
using Op = FaultInjector::Op;
using Error = FaultInjector::Error;
using Files = FaultInjector::Files;

namespace {

// A store whose every file goes through a FaultInjector.
struct FaultEnv {
  TempDir dir;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::shared_ptr<FaultInjector> faults = std::make_shared<FaultInjector>();
  std::unique_ptr<Store> store;
  bool inline_writes = false;

  explicit FaultEnv(bool inline_writes_ = false) : inline_writes(inline_writes_) { open(); }

  StoreOptions options() const {
    StoreOptions o;
    o.dir = dir.path() / "state";
    o.clock = clock;
    o.faults = faults;
    o.inline_writes = inline_writes;
    return o;
  }
  void open() { store = open_sqlite_store(options()); }
  void reopen() {
    store.reset();
    open();
  }
};

// A store where alice holds file:/x before the disk starts failing.
struct AliceHoldsX : FaultEnv {
  Store& s = *store;
  const Principal a = agent("alice");
  AliceHoldsX() { REQUIRE(s.acquire_lease(a, acquire("file:/x")).granted); }
};

std::int64_t journal_head(Store& s) {
  JournalFilter f;
  f.limit = 1;
  const auto records = s.journal_query(admin(), f);
  return records.empty() ? 0 : records.front().seq;
}

// The journal chain verifies and folds to the lease table.
void require_consistent(Store& s) {
  const VerifyReport v = s.journal_verify(admin());
  INFO((v.first_bad ? v.first_bad->kind + ": " + v.first_bad->detail : std::string()));
  REQUIRE(v.ok);
  const ReplayReport r = s.journal_replay(admin());
  INFO((r.differences.empty() ? std::string() : r.differences.front()));
  REQUIRE(r.equal);
}

// Runs `call`, which must throw a StoreError a caller can act on.
template <typename F>
std::string require_io_failure(F&& call) {
  try {
    call();
  } catch (const StoreError& e) {
    INFO(e.what());
    CHECK((e.code() == ErrorCode::kInternal || e.code() == ErrorCode::kBusy));
    return e.what();
  }
  FAIL("the call did not throw");
  return {};
}

PutRequest put(const std::string& key, json::value value) {
  PutRequest r;
  r.key = key;
  r.value = std::move(value);
  return r;
}

struct Fault {
  Op op;
  Error error;
  const char* name;
};

const std::vector<Fault>& commit_faults() {
  static const std::vector<Fault> all = {
      {Op::kWrite, Error::kIoErr, "write EIO"},
      {Op::kWrite, Error::kFull, "write ENOSPC"},
      {Op::kSync, Error::kIoErr, "fsync EIO"},
  };
  return all;
}

}  // namespace

TEST_CASE("faults: the injector counts and fails the nth call", "[state][faults][sqlite-only]") {
  FaultEnv env;
  const Principal a = agent("alice");
  const std::int64_t writes = env.faults->calls(Op::kWrite);
  const std::int64_t syncs = env.faults->calls(Op::kSync);
  env.store->memory_put(a, put("k", 1));
  CHECK(env.faults->calls(Op::kWrite) > writes);
  CHECK(env.faults->calls(Op::kSync) > syncs);  // synchronous=FULL syncs the WAL
  CHECK(env.faults->failures() == 0);

  // The next write fails, once.
  env.faults->arm(Op::kWrite, 1);
  require_io_failure([&] { env.store->memory_put(a, put("k2", 2)); });
  CHECK(env.faults->failures() == 1);
  env.store->memory_put(a, put("k2", 2));  // not sticky: the retry passes
  CHECK(env.faults->failures() == 1);
}

TEST_CASE("faults: a failed commit of an acquire leaves nothing and can be retried",
          "[state][faults][sqlite-only]") {
  for (const bool inline_writes : {false, true}) {
    for (const Fault& fault : commit_faults()) {
      DYNAMIC_SECTION(fault.name << (inline_writes ? " inline" : " threaded")) {
        FaultEnv env(inline_writes);
        Store& s = *env.store;
        const Principal a = agent("alice");
        REQUIRE(s.acquire_lease(a, acquire("file:/x")).granted);
        const std::int64_t head = journal_head(s);

        env.faults->arm(fault.op, 1, fault.error, /*sticky=*/true, Files::kWal);
        const std::string message =
            require_io_failure([&] { s.acquire_lease(a, acquire("file:/y")); });
        CHECK(message.find("sqlite code") != std::string::npos);
        env.faults->disarm();

        // Neither the lease nor its ACQUIRE record is visible.
        CHECK(s.list_leases(a).size() == 1);
        CHECK(journal_head(s) == head);
        require_consistent(s);

        // The same store works again; the retry is granted after the old one.
        const AcquireResult retry = s.acquire_lease(a, acquire("file:/y"));
        REQUIRE(retry.granted);
        CHECK(s.list_leases(a).size() == 2);
        CHECK(journal_head(s) == head + 1);
        require_consistent(s);

        // And so does a reopened one, with the acknowledged state intact.
        env.reopen();
        CHECK(env.store->list_leases(a).size() == 2);
        CHECK(journal_head(*env.store) == head + 1);
        require_consistent(*env.store);
      }
    }
  }
}

TEST_CASE("faults: a failed commit of a memory put leaves nothing and can be retried",
          "[state][faults][sqlite-only]") {
  for (const Fault& fault : commit_faults()) {
    DYNAMIC_SECTION(fault.name) {
      FaultEnv env;
      Store& s = *env.store;
      const Principal a = agent("alice");
      CHECK(s.memory_put(a, put("k", "v1")).version == 1);
      const std::int64_t head = journal_head(s);

      env.faults->arm(fault.op, 1, fault.error, /*sticky=*/true);
      require_io_failure([&] { s.memory_put(a, put("k", "v2")); });
      require_io_failure([&] { s.memory_put(a, put("new", "x")); });
      env.faults->disarm();

      const GetResult got = s.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "k");
      REQUIRE(got.found);
      CHECK(got.value == json::value("v1"));
      CHECK(got.version == 1);
      CHECK_FALSE(s.memory_get(a, Tier::kCrossRun, Namespace::kOwn, "new").found);
      CHECK(journal_head(s) == head);
      require_consistent(s);

      CHECK(s.memory_put(a, put("k", "v2")).version == 2);
      CHECK(journal_head(s) == head + 1);
      env.reopen();
      CHECK(env.store->memory_get(a, Tier::kCrossRun, Namespace::kOwn, "k").version == 2);
      require_consistent(*env.store);
    }
  }
}

TEST_CASE("faults: a failed commit of a journal append leaves no record", "[state][faults][sqlite-only]") {
  for (const Fault& fault : commit_faults()) {
    DYNAMIC_SECTION(fault.name) {
      FaultEnv env;
      Store& s = *env.store;
      const Principal a = agent("alice");
      s.journal_append(a, "HOOK_DECISION", "Bash", json::parse(R"({"decision":"allow"})"));
      const std::int64_t head = journal_head(s);

      env.faults->arm(fault.op, 1, fault.error);
      require_io_failure([&] {
        s.journal_append(a, "HOOK_DECISION", "Edit", json::parse(R"({"decision":"deny"})"));
      });
      CHECK(journal_head(s) == head);
      require_consistent(s);

      const JournalRecord r =
          s.journal_append(a, "HOOK_DECISION", "Edit", json::parse(R"({"decision":"deny"})"));
      CHECK(r.seq == head + 1);
      require_consistent(s);
    }
  }
}

TEST_CASE("faults: a failed checkpoint loses nothing acknowledged", "[state][faults][sqlite-only]") {
  FaultEnv env;
  const Principal a = agent("alice");
  for (int i = 0; i < 20; ++i) env.store->memory_put(a, put("k" + std::to_string(i), i));
  REQUIRE(env.store->acquire_lease(a, acquire("file:/x")).granted);
  const std::int64_t head = journal_head(*env.store);

  // Closing checkpoints the WAL into the database file: make every write to
  // the database and every truncate fail, then "restart".
  env.faults->arm(Op::kWrite, 1, Error::kIoErr, /*sticky=*/true, Files::kMainDb);
  env.store.reset();
  env.faults->arm(Op::kTruncate, 1, Error::kIoErr, /*sticky=*/true);
  env.open();
  env.faults->disarm();
  env.reopen();

  for (int i = 0; i < 20; ++i) {
    CHECK(env.store->memory_get(a, Tier::kCrossRun, Namespace::kOwn, "k" + std::to_string(i))
              .found);
  }
  CHECK(env.store->list_leases(a).size() == 1);
  CHECK(journal_head(*env.store) == head);
  require_consistent(*env.store);
}

TEST_CASE("faults: a failed group commit fails every job of its batch", "[state][faults][sqlite-only]") {
  TempDir dir;
  FaultInjector faults;
  const auto path = dir.path() / "t.db";
  sql::Connection conn(path, 5000, Synchronous::kFull, faults.vfs_name().c_str());
  sql::exec(conn.get(), "PRAGMA journal_mode=WAL");
  sql::exec(conn.get(), "CREATE TABLE t(x INTEGER PRIMARY KEY)");
  GroupCommitWriter writer(std::move(conn), 5000, 256);

  // The first job holds the writer thread until every other job is queued,
  // and arms the fault: its own batch writes nothing (no sync), the next
  // batch, carrying all the queued jobs, fails its fsync.
  std::promise<void> go;
  std::shared_future<void> released = go.get_future().share();
  std::thread first([&] {
    writer.submit([&](sqlite3*) {
      released.wait();
      faults.arm(Op::kSync, 1);
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));

  constexpr int kJobs = 16;
  std::atomic<int> failed{0};
  std::atomic<int> acknowledged{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kJobs; ++i) {
    threads.emplace_back([&, i] {
      try {
        writer.submit([i](sqlite3* db) {
          sql::Statement(db, "INSERT INTO t(x) VALUES(?)").bind(1, i).run();
        });
        acknowledged += 1;
      } catch (const StoreError&) {
        failed += 1;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // all queued
  go.set_value();
  first.join();
  for (std::thread& t : threads) t.join();

  CHECK(faults.failures() == 1);
  const StoreStats stats = writer.stats();
  INFO("commits " << stats.commits << " max batch " << stats.max_batch);
  CHECK(failed.load() >= 1);
  // Every job of the failed batch failed; jobs that came later (if the
  // queueing was slower than the sleep) committed in batches of their own.
  // What was acknowledged is exactly what the table holds.
  int rows = 0;
  writer.submit([&](sqlite3* db) {
    sql::Statement q(db, "SELECT count(*) FROM t");
    q.step();
    rows = static_cast<int>(q.int64(0));
  });
  CHECK(rows == acknowledged.load());
  CHECK(failed.load() + acknowledged.load() == kJobs);
  if (stats.commits == 1) CHECK(failed.load() == kJobs);  // one batch carried them all
}

TEST_CASE("faults: under concurrent load, exactly the acknowledged calls survive",
          "[state][faults][sqlite-only]") {
  FaultEnv env;
  const Principal a = agent("alice");
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20;
  std::atomic<bool> stop{false};
  // Fail every 7th sync while the writers run.
  std::thread chaos([&] {
    while (!stop) {
      env.faults->arm(Op::kSync, 7);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::vector<std::vector<bool>> ok(kThreads, std::vector<bool>(kPerThread, false));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        try {
          env.store->memory_put(a, put("t" + std::to_string(t) + "-" + std::to_string(i), i));
          ok[t][i] = true;
        } catch (const StoreError&) {
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  stop = true;
  chaos.join();
  env.faults->disarm();

  INFO("failures injected: " << env.faults->failures());
  env.reopen();
  Store& s = *env.store;
  int acknowledged = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const bool found =
          s.memory_get(a, Tier::kCrossRun, Namespace::kOwn,
                       "t" + std::to_string(t) + "-" + std::to_string(i))
              .found;
      CHECK(found == ok[t][i]);
      acknowledged += ok[t][i] ? 1 : 0;
    }
  }
  CHECK(static_cast<int>(journal_records(s, ops::kMemoryPut).size()) == acknowledged);
  require_consistent(s);
}

TEST_CASE_METHOD(AliceHoldsX,
                 "faults: a call whose fsync failed is not resurrected by a crash",
                 "[state][faults][sqlite-only]") {
  const std::int64_t head = journal_head(s);

  // The WAL frames of the acquire are written, only their fsync fails: the
  // caller is told the acquire failed.
  faults->arm(Op::kSync, 1, Error::kIoErr, /*sticky=*/false, Files::kWal);
  require_io_failure([&] { s.acquire_lease(a, acquire("file:/y")); });
  faults->disarm();
  CHECK(s.list_leases(a).size() == 1);

  // The process dies now (the files stay as they are, no checkpoint on
  // close): a copy of the state directory is what the next process finds.
  TempDir crash;
  std::filesystem::create_directories(crash.path() / "state");
  for (const char* name : {"keel.db", "keel.db-wal"}) {
    const auto from = dir.path() / "state" / name;
    if (std::filesystem::exists(from)) {
      std::filesystem::copy_file(from, crash.path() / "state" / name);
    }
  }
  StoreOptions o;
  o.dir = crash.path() / "state";
  o.clock = clock;
  auto after = open_sqlite_store(o);
  const auto leases = after->list_leases(a);
  INFO("leases after the crash: " << leases.size() << ", journal head "
                                  << journal_head(*after) << " (was " << head << ")");
  CHECK(leases.size() == 1);
  CHECK(journal_head(*after) == head);
  require_consistent(*after);
}

TEST_CASE_METHOD(AliceHoldsX,
                 "faults: when the disk keeps failing, the error says the outcome is open",
                 "[state][faults][sqlite-only]") {
  // Every fsync fails: the commit, and the empty commit meant to discard it.
  faults->arm(Op::kSync, 1, Error::kIoErr, /*sticky=*/true, Files::kWal);
  const std::string message = require_io_failure([&] { s.acquire_lease(a, acquire("file:/y")); });
  CHECK(message.find("may yet take effect") != std::string::npos);
  faults->disarm();
  // The next commit overwrites the frames: the store is whole again.
  REQUIRE(s.acquire_lease(a, acquire("file:/z")).granted);
  CHECK(s.list_leases(a).size() == 2);
  require_consistent(s);
}

TEST_CASE("faults: every kind of write fails whole and can be retried", "[state][faults][sqlite-only]") {
  struct Case {
    const char* name;
    std::function<void(Store&)> setup;
    std::function<void(Store&)> call;
  };
  const Principal a = agent("alice");
  const Principal h = admin();
  auto esc = [](Store& s) {
    EscalationRequest r;
    r.reason = "needs a human";
    r.proposal = "rm -rf build";
    return s.request_escalation(agent("alice"), r).escalation->id;
  };
  const std::vector<Case> cases = {
      {"renew", [&](Store& s) { s.acquire_lease(a, acquire("file:/x")); },
       [&](Store& s) {
         const auto l = s.list_leases(a).at(0);
         s.renew_lease(a, l.name, l.lease_id);
       }},
      {"release", [&](Store& s) { s.acquire_lease(a, acquire("file:/x")); },
       [&](Store& s) {
         const auto l = s.list_leases(a).at(0);
         (void)s.release_lease(a, l.name, l.lease_id);
       }},
      {"memory delete", [&](Store& s) { s.memory_put(a, put("k", 1)); },
       [&](Store& s) {
         DeleteRequest r;
         r.key = "k";
         (void)s.memory_delete(a, r);
       }},
      {"end session",
       [&](Store& s) {
         PutRequest r = put("k", 1);
         r.tier = Tier::kSession;
         s.memory_put(a, r);
       },
       [&](Store& s) { s.end_session(a); }},
      {"request escalation", [](Store&) {}, [&](Store& s) { esc(s); }},
      {"resolve escalation", [&](Store& s) { esc(s); },
       [&](Store& s) {
         ResolveEscalationRequest r;
         r.id = s.list_escalations(h, {}).escalations.at(0).id;
         r.decision = EscalationDecision::kAbort;
         r.via = "test";
         (void)s.resolve_escalation(h, r);
       }},
      {"register agent", [](Store&) {},
       [&](Store& s) { s.register_agent(a, AgentRegistration{"test"}); }},
      {"heartbeat", [&](Store& s) { s.acquire_lease(a, acquire("file:/x")); },
       [&](Store& s) { s.heartbeat(a); }},
      {"compact",
       [&](Store& s) {
         for (int i = 0; i < 5; ++i) s.memory_put(a, put("k" + std::to_string(i), i));
       },
       [&](Store& s) { s.journal_compact(h); }},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      FaultEnv env;
      Store& s = *env.store;
      c.setup(s);
      const std::int64_t head = journal_head(s);
      const auto leases = s.list_leases(a);

      env.faults->arm(Op::kSync, 1, Error::kIoErr, /*sticky=*/false, Files::kWal);
      require_io_failure([&] { c.call(s); });
      env.faults->disarm();
      CHECK(journal_head(s) == head);
      CHECK(s.list_leases(a) == leases);
      require_consistent(s);

      c.call(s);  // the retry succeeds
      CHECK(journal_head(s) != head);
      require_consistent(s);
      env.reopen();
      require_consistent(*env.store);
    }
  }
}

TEST_CASE("faults: a failing automatic checkpoint does not fail acknowledged commits",
          "[state][faults][sqlite-only]") {
  FaultEnv env;
  const Principal a = agent("alice");
  // Every write to the database file fails: only the WAL works, so each
  // automatic checkpoint (every ~1000 WAL pages) fails behind the commit
  // that triggered it. The commits themselves stand.
  env.faults->arm(Op::kWrite, 1, Error::kIoErr, /*sticky=*/true, Files::kMainDb);
  const std::string big(3000, 'x');
  constexpr int kPuts = 400;
  for (int i = 0; i < kPuts; ++i) {
    env.store->memory_put(a, put("k" + std::to_string(i), json::value(big + std::to_string(i))));
  }
  INFO("database writes failed: " << env.faults->failures());
  CHECK(env.faults->failures() > 0);  // a checkpoint did run, and failed
  require_consistent(*env.store);
  env.faults->disarm();
  env.reopen();
  for (int i = 0; i < kPuts; i += 37) {
    const GetResult got =
        env.store->memory_get(a, Tier::kCrossRun, Namespace::kOwn, "k" + std::to_string(i));
    REQUIRE(got.found);
    CHECK(got.value == json::value(big + std::to_string(i)));
  }
  require_consistent(*env.store);
}

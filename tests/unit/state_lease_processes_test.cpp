// Many processes, two names, opposite orders (issue 18): 32 processes open
// the same store (the same state dir, or the same PostgreSQL schema) and
// each takes the pair {name:a, name:b} a few times, half of them naming it
// a-then-b and half b-then-a, waiting for it. A store that took the names
// one at a time in the order given would deadlock here until the TTLs ran
// out; the store decides every name of a request in one transaction, in
// the canonical order, so every process finishes promptly. The journal
// (ACQUIRE / RELEASE / EXPIRE in chain order) then shows that no name ever
// had two live holders.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;

namespace {

constexpr int kProcesses = 32;
constexpr int kRounds = 4;

// The child's whole life: kRounds grants of both names, each released as a
// group. Exit codes: 0 done, 2 not granted within the wait, 3 an exception,
// 4 a grant without both names.
[[noreturn]] void contend(const StoreOptions& options, int index) {
  int code = 0;
  try {
    std::unique_ptr<Store> store = open_test_store(options);
    const Principal who = agent("p" + std::to_string(index), "s" + std::to_string(index));
    for (int round = 0; round < kRounds && code == 0; ++round) {
      AcquireRequest r;
      r.names = index % 2 == 0 ? std::vector<std::string>{"name:a", "name:b"}
                               : std::vector<std::string>{"name:b", "name:a"};
      r.ttl_ms = 60'000;
      r.wait_ms = 60'000;
      const AcquireResult got = store->acquire_lease(who, r);
      if (!got.granted) {
        code = 2;
      } else if (got.leases.size() != 2) {
        code = 4;
      } else {
        store->release_group(who, got.leases.front().group_id);
      }
    }
  } catch (...) {
    code = 3;
  }
  _exit(code);
}

}  // namespace

TEST_CASE("32 processes taking two names in opposite orders finish with no deadlock and no overlap",
          "[lease][lease-processes]") {
  TempDir dir;
  StoreOptions options;
  options.dir = dir.path() / "state";
  options.maintenance_on_open = false;
  options.pg_pool_size = 2;
  // Create (and migrate) the store once, so the children only open it.
  open_test_store(options).reset();

  std::vector<pid_t> children;
  for (int i = 0; i < kProcesses; ++i) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) contend(options, i);
    children.push_back(pid);
  }

  // Every child must end on its own well inside the TTLs (60 s): a deadlock
  // shows as children still running at the deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(50);
  std::map<pid_t, int> status;
  while (status.size() < children.size() && std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    const pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      status[pid] = st;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  const std::size_t stuck = children.size() - status.size();
  for (pid_t pid : children) {
    if (status.count(pid) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  INFO(stuck << " of " << kProcesses << " processes were still waiting after 50 s");
  REQUIRE(stuck == 0);
  for (const auto& [pid, st] : status) {
    INFO("child " << pid << " exit status " << st);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
  }

  // The journal: at every ACQUIRE, no other live lease on the name.
  std::unique_ptr<Store> store = open_test_store(options);
  std::map<std::string, std::set<std::string>> live;  // name -> lease ids
  std::map<std::string, std::string> name_of;         // lease id -> name
  int acquires = 0;
  int overlaps = 0;
  std::int64_t after = 0;
  for (;;) {
    JournalFilter f;
    f.limit = 10000;
    f.newest_first = false;
    f.after_seq = after;
    const std::vector<JournalRecord> page = store->journal_query(admin(), f);
    if (page.empty()) break;
    for (const JournalRecord& r : page) {
      after = r.seq;
      if (r.op != "ACQUIRE" && r.op != "RELEASE" && r.op != "EXPIRE") continue;
      const json::object p = json::parse(r.payload).as_object();
      const std::string id(p.at("lease_id").as_string());
      if (r.op == "ACQUIRE") {
        const std::string name(p.at("name").as_string());
        ++acquires;
        if (!live[name].empty()) ++overlaps;
        live[name].insert(id);
        name_of[id] = name;
      } else if (name_of.count(id) != 0) {
        live[name_of[id]].erase(id);
      }
    }
  }
  CHECK(acquires == 2 * kProcesses * kRounds);
  CHECK(overlaps == 0);
  CHECK(store->journal_verify(admin()).ok);
  CHECK(store->journal_replay(admin()).equal);
}

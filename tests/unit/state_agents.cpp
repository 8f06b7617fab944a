// The agent registry and agent liveness: anchors, SCAVENGE, HEARTBEAT, ADOPT,
// SUSPEND/RESUME, and their fold in replay and compaction.
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "state/agent_identity.h"
#include "state/journal.h"
#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;

namespace {

// A process table whose processes live and die on command.
class FakeProcessTable final : public ProcessTable {
 public:
  std::string host_key() const override { return "host-a"; }
  std::string host_name() const override { return "box"; }
  std::int64_t parent_pid() const override { return parent_; }
  std::optional<ProcessInfo> info(std::int64_t pid) const override {
    std::lock_guard lock(mu_);
    auto it = procs_.find(pid);
    if (it == procs_.end()) return std::nullopt;
    return it->second;
  }
  void add(ProcessInfo p) {
    std::lock_guard lock(mu_);
    procs_[p.pid] = std::move(p);
  }
  void kill(std::int64_t pid) {
    std::lock_guard lock(mu_);
    procs_.erase(pid);
  }
  // The pid now runs another program (pid reuse): same pid, new start time.
  void reuse(std::int64_t pid) {
    std::lock_guard lock(mu_);
    procs_[pid].start_time += 1000;
    procs_[pid].comm = "other";
  }
  std::int64_t parent_ = 0;

 private:
  mutable std::mutex mu_;
  std::map<std::int64_t, ProcessInfo> procs_;
};

ProcessInfo proc(std::int64_t pid, std::int64_t ppid, std::string comm, std::string exe,
                 std::vector<std::string> argv = {}) {
  ProcessInfo p;
  p.pid = pid;
  p.ppid = ppid;
  p.start_time = pid * 7;
  p.comm = std::move(comm);
  p.exe = std::move(exe);
  p.argv = std::move(argv);
  return p;
}

struct AgentsEnv {
  std::shared_ptr<FakeProcessTable> table = std::make_shared<FakeProcessTable>();
  StoreEnv env;
  AgentsEnv() {
    env.close();
    reopen();
  }
  void reopen() {
    env.close();
    StoreOptions o = env.options();
    o.processes = table;
    env.store = open_test_store(o);
  }
  Store& store() { return *env.store; }

  // An agent session anchored on process `pid` (which runs as a Claude Code).
  Principal anchored(std::int64_t pid, const std::string& host = "host-a") {
    table->add(proc(pid, 1, "claude", "/usr/lib/claude/claude"));
    AgentAnchor a{"claude-code", ProcessAnchor{host, pid, pid * 7}};
    Principal p = agent(agent_name_for(a));
    p.anchor = a;
    return p;
  }
};

AcquireRequest req(const std::string& name, std::int64_t ttl = 600'000) {
  AcquireRequest r;
  r.name = name;
  r.ttl_ms = ttl;
  return r;
}

}  // namespace

TEST_CASE("agent identity: the agent is the first non-shell parent, when keel knows it",
          "[state][agents]") {
  FakeProcessTable t;
  t.add(proc(100, 1, "claude", "/home/u/.local/share/claude/versions/2.1.332"));
  t.add(proc(200, 100, "bash", "/usr/bin/bash", {"/bin/bash", "-c", "keel hook"}));
  t.add(proc(300, 200, "keel", "/usr/bin/keel", {"keel", "hook"}));
  t.add(proc(301, 100, "keel", "/usr/bin/keel", {"keel", "serve", "--stdio"}));
  // A hook (through a shell) and the MCP server (directly) find the same agent.
  auto hook = find_agent_anchor(t, 300);
  auto server = find_agent_anchor(t, 301);
  REQUIRE(hook);
  REQUIRE(server);
  CHECK(hook->product == "claude-code");
  CHECK(*hook == *server);
  CHECK(agent_name_for(*hook) == agent_name_for(*server));
  CHECK(agent_name_for(*hook).rfind("claude-code:", 0) == 0);
  CHECK(agent_name_for(*hook).size() == std::string("claude-code:").size() + 12);

  // A second session of the same product is another agent.
  t.add(proc(110, 1, "claude", "/usr/bin/claude"));
  t.add(proc(310, 110, "keel", "/usr/bin/keel"));
  auto other = find_agent_anchor(t, 310);
  REQUIRE(other);
  CHECK(agent_name_for(*other) != agent_name_for(*hook));

  // Codex (native), Gemini CLI (node running gemini.js), and a harness keel does not know.
  t.add(proc(120, 1, "codex", "/n/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/codex/codex"));
  t.add(proc(320, 120, "keel", "/usr/bin/keel"));
  CHECK(find_agent_anchor(t, 320)->product == "codex");
  t.add(proc(130, 1, "node", "/usr/bin/node", {"node", "--max-old-space-size=4096", "/x/bundle/gemini.js"}));
  t.add(proc(131, 1, "node", "/usr/bin/node", {"/usr/bin/node", "/x/bundle/gemini.js", "-p"}));
  t.add(proc(330, 131, "keel", "/usr/bin/keel"));
  CHECK(find_agent_anchor(t, 330)->product == "gemini");
  t.add(proc(140, 1, "node", "/usr/bin/node", {"node", "--test", "x.test.mjs"}));
  t.add(proc(340, 140, "keel", "/usr/bin/keel"));
  CHECK_FALSE(find_agent_anchor(t, 340));
  // The harness still anchors its stdio server's liveness (product unknown).
  t.parent_ = 140;
  auto client = find_client_anchor(t);
  REQUIRE(client);
  CHECK(client->product.empty());
  CHECK(client->process.pid == 140);
  CHECK_FALSE(find_own_agent_anchor(t));
}

TEST_CASE("liveness: same pid and start time is alive; reuse, exit and other hosts are not dead-alive",
          "[state][agents]") {
  FakeProcessTable t;
  t.add(proc(100, 1, "claude", "/usr/bin/claude"));
  const ProcessAnchor a{"host-a", 100, 700};
  CHECK(t.liveness(a) == Liveness::kAlive);
  CHECK(t.liveness(ProcessAnchor{"host-b", 100, 700}) == Liveness::kUnknown);
  CHECK(t.liveness(ProcessAnchor{"", 100, 700}) == Liveness::kUnknown);
  t.reuse(100);
  CHECK(t.liveness(a) == Liveness::kDead);  // another program got the pid
  t.kill(100);
  CHECK(t.liveness(a) == Liveness::kDead);
  // The real table: this process is alive; a made-up start time of it is not.
  auto sys = system_process_table();
  auto me = sys->info(::getpid());
  REQUIRE(me);
  CHECK(sys->liveness(ProcessAnchor{sys->host_key(), me->pid, me->start_time}) == Liveness::kAlive);
  CHECK(sys->liveness(ProcessAnchor{sys->host_key(), me->pid, me->start_time + 1}) == Liveness::kDead);
}

TEST_CASE("scavenge: a dead holder's leases are freed at the next conflicting acquire",
          "[state][agents]") {
  AgentsEnv e;
  Principal a = e.anchored(100);
  Principal b = e.anchored(200);
  REQUIRE(e.store().acquire_lease(a, req("file:/proj/x.cc")).granted);
  REQUIRE(e.store().acquire_lease(a, req("file:/proj/y.cc")).granted);
  REQUIRE(journal_records(e.store(), "AGENT_START").size() == 1);

  // Alive: refused, nothing freed.
  auto refused = e.store().acquire_lease(b, req("file:/proj/x.cc"));
  CHECK_FALSE(refused.granted);
  CHECK(refused.holders.at(0).holder == a.agent);
  CHECK(journal_records(e.store(), "SCAVENGE").empty());

  e.table->kill(100);
  auto granted = e.store().acquire_lease(b, req("file:/proj/x.cc"));
  CHECK(granted.granted);
  auto sc = journal_records(e.store(), "SCAVENGE");
  REQUIRE(sc.size() == 1);
  CHECK(sc[0].principal == a.agent);
  CHECK(sc[0].payload.find("\"pid\":100") != std::string::npos);
  CHECK(sc[0].payload.find("\"host\":\"box\"") != std::string::npos);
  CHECK(sc[0].payload.find("file:/proj/x.cc") != std::string::npos);
  CHECK(sc[0].payload.find("file:/proj/y.cc") != std::string::npos);  // every hold of the dead agent
  CHECK(e.store().list_leases(admin()).size() == 1);
  auto replay = e.store().journal_replay(admin());
  CHECK(replay.equal);
  // Gone agents are listed only on request.
  CHECK(e.store().list_agents(admin(), false).size() == 1);
  auto all = e.store().list_agents(admin(), true);
  REQUIRE(all.size() == 2);
}

TEST_CASE("scavenge: never frees a live holder, a reused pid's old holder is dead, other hosts wait",
          "[state][agents]") {
  AgentsEnv e;
  Principal a = e.anchored(100);
  Principal remote = e.anchored(300, "host-b");  // anchored on another machine
  Principal plain = agent("named-by-hand");      // no anchor
  REQUIRE(e.store().acquire_lease(a, req("n:a")).granted);
  REQUIRE(e.store().acquire_lease(remote, req("n:r")).granted);
  REQUIRE(e.store().acquire_lease(plain, req("n:p")).granted);

  CHECK(e.store().scavenge_dead_agents(admin()).empty());  // all alive or unknown
  e.table->kill(300);  // host-b's pid 300 means nothing here
  CHECK(e.store().scavenge_dead_agents(admin()).empty());
  CHECK(e.store().list_leases(admin()).size() == 3);

  e.table->reuse(100);  // pid 100 now runs something else: the agent is gone
  auto gone = e.store().scavenge_dead_agents(admin());
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].agent == a.agent);
  CHECK(gone[0].pid == 100);
  CHECK(gone[0].names == std::vector<std::string>{"n:a"});
  CHECK(e.store().scavenge_dead_agents(admin()).empty());  // once
  CHECK(e.store().journal_replay(admin()).equal);
}

TEST_CASE("scavenge: a restarted agent with the same name takes back its row", "[state][agents]") {
  AgentsEnv e;
  Principal a = e.anchored(100);
  REQUIRE(e.store().acquire_lease(a, req("n:a")).granted);
  e.table->kill(100);
  REQUIRE(e.store().scavenge_dead_agents(admin()).size() == 1);
  // The same name from a live process (a name given by hand, say) is active again.
  Principal again = a;
  e.table->add(proc(101, 1, "claude", "/usr/bin/claude"));
  again.anchor = AgentAnchor{"claude-code", ProcessAnchor{"host-a", 101, 707}};
  REQUIRE(e.store().acquire_lease(again, req("n:a")).granted);
  auto agents = e.store().list_agents(admin(), false);
  REQUIRE(agents.size() == 1);
  CHECK(agents[0].status == AgentStatus::kActive);
  CHECK(agents[0].pid == 101);
  CHECK(agents[0].leases == std::vector<std::string>{"n:a"});
}

TEST_CASE("register_agent: records product, host, pid, session; a session bound twice moves",
          "[state][agents]") {
  AgentsEnv e;
  Principal a = e.anchored(100);
  a.session_id = "sess-1";
  auto info = e.store().register_agent(a, AgentRegistration{"claude-code 2.1.332"});
  CHECK(info.product == "claude-code");
  CHECK(info.host == "box");
  CHECK(info.pid == 100);
  CHECK(info.session_id == "sess-1");
  CHECK(info.client == "claude-code 2.1.332");
  // Registering again journals nothing new.
  e.store().register_agent(a, AgentRegistration{"hook:claude"});
  CHECK(journal_records(e.store(), "AGENT_START").size() == 1);
  // The same session id in another process (claude --resume) binds to the new agent only.
  Principal b = e.anchored(200);
  b.session_id = "sess-1";
  e.store().register_agent(b, AgentRegistration{"hook:claude"});
  int bound = 0;
  for (const auto& x : e.store().list_agents(admin(), true)) bound += x.session_id == "sess-1";
  CHECK(bound == 1);
  // An agent without anchor is recorded too (pid 0).
  auto plain = e.store().register_agent(agent("by-hand"), AgentRegistration{"mcp"});
  CHECK(plain.pid == 0);
  CHECK(plain.host.empty());
}

TEST_CASE("suspend: leases released, acquires refused, the hook marker set; resume lifts it",
          "[state][agents]") {
  AgentsEnv e;
  Principal a = e.anchored(100);
  REQUIRE(e.store().acquire_lease(a, req("file:/proj/x.cc")).granted);
  const auto state_dir = e.env.options().dir;
  CHECK_FALSE(suspended_reason(state_dir, a.project, a.agent));

  // Bad input: unknown agent, empty reason, no capability.
  CHECK_THROWS_MATCHES(e.store().suspend_agent(admin(), "nobody", "x"), StoreError,
                       Catch::Predicate<StoreError>([](const StoreError& x) {
                         return x.code() == ErrorCode::kNotFound;
                       }));
  CHECK_THROWS_AS(e.store().suspend_agent(admin(), a.agent, ""), StoreError);
  CHECK_THROWS_MATCHES(e.store().suspend_agent(agent("peer"), a.agent, "x"), StoreError,
                       Catch::Predicate<StoreError>([](const StoreError& x) {
                         return x.code() == ErrorCode::kPermissionDenied;
                       }));
  CHECK_THROWS_AS(e.store().resume_agent(admin(), "nobody"), StoreError);

  auto s = e.store().suspend_agent(admin(), a.agent, "loops on the same test");
  CHECK(s.status == AgentStatus::kSuspended);
  CHECK(s.suspend_reason == "loops on the same test");
  CHECK(e.store().list_leases(admin()).empty());
  CHECK(suspended_reason(state_dir, a.project, a.agent) == std::optional<std::string>("loops on the same test"));
  CHECK_FALSE(suspended_reason(state_dir, a.project, "someone-else"));
  CHECK_THROWS_MATCHES(e.store().acquire_lease(a, req("file:/proj/x.cc")), StoreError,
                       Catch::Predicate<StoreError>([](const StoreError& x) {
                         return x.code() == ErrorCode::kPermissionDenied &&
                                std::string(x.what()).find("loops on the same test") != std::string::npos;
                       }));
  CHECK_THROWS_AS(e.store().heartbeat(a), StoreError);
  CHECK(e.store().journal_replay(admin()).equal);
  REQUIRE(journal_records(e.store(), "SUSPEND").size() == 1);

  auto r = e.store().resume_agent(admin(), a.agent);
  CHECK(r.status == AgentStatus::kActive);
  CHECK_FALSE(suspended_reason(state_dir, a.project, a.agent));
  CHECK(e.store().acquire_lease(a, req("file:/proj/x.cc")).granted);
  e.store().resume_agent(admin(), a.agent);  // resuming an active agent journals nothing
  CHECK(journal_records(e.store(), "RESUME").size() == 1);
}

TEST_CASE("adopt: a new higher token for the new holder; the old token is stale", "[state][agents]") {
  AgentsEnv e;
  Principal a = e.anchored(100);
  Principal b = e.anchored(200);
  e.store().register_agent(b, AgentRegistration{"mcp"});
  auto g = e.store().acquire_lease(a, req("file:/proj/x.cc"));
  REQUIRE(g.granted);
  PutRequest put;
  put.key = "k";
  put.value = 1;
  put.fence = Fence{"file:/proj/x.cc", g.lease->token};
  e.store().memory_put(a, put);

  // Bad input.
  CHECK_THROWS_AS(e.store().adopt_lease(agent("peer"), "file:/proj/x.cc", "", b.agent), StoreError);  // no lease.force
  CHECK_THROWS_MATCHES(e.store().adopt_lease(admin(), "file:/proj/x.cc", "", "nobody"), StoreError,
                       Catch::Predicate<StoreError>([](const StoreError& x) {
                         return x.code() == ErrorCode::kNotFound;
                       }));
  CHECK_THROWS_MATCHES(e.store().adopt_lease(admin(), "file:/proj/none", "", b.agent), StoreError,
                       Catch::Predicate<StoreError>([](const StoreError& x) {
                         return x.code() == ErrorCode::kNotFound;
                       }));
  CHECK_THROWS_AS(e.store().adopt_lease(admin(), "file:/proj/x.cc", "lease_nope", b.agent), StoreError);
  CHECK_THROWS_AS(e.store().adopt_lease(admin(), "file:/proj/x.cc", "", a.agent), StoreError);  // already holds

  auto moved = e.store().adopt_lease(admin(), "file:/proj/x.cc", g.lease->lease_id, b.agent);
  CHECK(moved.holder == b.agent);
  CHECK(moved.token > g.lease->token);
  CHECK(moved.lease_id == g.lease->lease_id);
  // The old holder's fenced write is refused; the new holder's goes through.
  put.fence = Fence{"file:/proj/x.cc", g.lease->token};
  CHECK_THROWS_MATCHES(e.store().memory_put(a, put), StoreError,
                       Catch::Predicate<StoreError>([](const StoreError& x) {
                         return x.code() == ErrorCode::kStaleFence;
                       }));
  Principal b_shared = b;
  put.ns = Namespace::kOwn;
  put.fence = Fence{"file:/proj/x.cc", moved.token};
  CHECK_NOTHROW(e.store().memory_put(b_shared, put));
  CHECK_THROWS_AS(e.store().release_lease(a, "file:/proj/x.cc", moved.lease_id), StoreError);
  CHECK(e.store().journal_replay(admin()).equal);
  REQUIRE(journal_records(e.store(), "ADOPT").size() == 1);
}

TEST_CASE("heartbeat: renews every lease of the caller, journaled once; replay and compaction fold it all",
          "[state][agents]") {
  AgentsEnv e;
  Principal a = e.anchored(100);
  Principal b = e.anchored(200);
  e.store().register_agent(b, AgentRegistration{"mcp"});
  REQUIRE(e.store().acquire_lease(a, req("n:1", 10'000)).granted);
  REQUIRE(e.store().acquire_lease(a, req("n:2", 20'000)).granted);
  REQUIRE(e.store().acquire_lease(b, req("n:3", 10'000)).granted);
  e.env.clock->advance(9'000);
  auto hb = e.store().heartbeat(a);
  REQUIRE(hb.renewed.size() == 2);
  for (const auto& l : hb.renewed) CHECK(l.expires_at_ms == hb.at_ms + l.ttl_ms);
  e.env.clock->advance(5'000);  // n:3 (not renewed) has expired; n:1 and n:2 live on
  CHECK(e.store().list_leases(admin()).size() == 2);
  CHECK(journal_records(e.store(), "HEARTBEAT").size() == 1);
  auto replay = e.store().journal_replay(admin());
  CHECK(replay.equal);
  INFO(replay.differences.size());

  // Every new op in one journal: compaction keeps replay equal to the table.
  e.store().adopt_lease(admin(), "n:2", "", b.agent);
  e.table->kill(100);
  CHECK(e.store().scavenge_dead_agents(admin()).size() == 1);
  e.store().suspend_agent(admin(), b.agent, "stop");
  REQUIRE(e.store().acquire_lease(agent("c"), req("n:4")).granted);
  const auto before = e.store().journal_replay(admin());
  CHECK(before.equal);
  e.store().journal_compact(admin());
  const auto after = e.store().journal_replay(admin());
  CHECK(after.equal);
  CHECK(after.replayed == before.replayed);
  CHECK(e.store().journal_verify(admin()).ok);
}

TEST_CASE("scavenge: concurrent sweepers and acquirers free a dead holder once, and only it",
          "[state][agents][concurrency]") {
  AgentsEnv e;
  constexpr int kHolders = 8;
  std::vector<Principal> holders;
  for (int i = 0; i < kHolders; ++i) {
    holders.push_back(e.anchored(100 + i));
    REQUIRE(e.store().acquire_lease(holders.back(), req("n:" + std::to_string(i))).granted);
  }
  Principal live = e.anchored(500);
  REQUIRE(e.store().acquire_lease(live, req("n:live")).granted);
  for (int i = 0; i < kHolders; ++i) e.table->kill(100 + i);

  // Sweepers (as every keel serve runs) and agents that want the dead holders' names, at once.
  std::atomic<int> granted{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      try {
        e.store().scavenge_dead_agents(admin());
      } catch (...) {
        ++errors;
      }
    });
  }
  for (int i = 0; i < kHolders; ++i) {
    threads.emplace_back([&, i] {
      try {
        Principal taker = agent("taker-" + std::to_string(i));
        if (e.store().acquire_lease(taker, req("n:" + std::to_string(i))).granted) ++granted;
      } catch (...) {
        ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(errors == 0);
  CHECK(granted == kHolders);
  CHECK(journal_records(e.store(), "SCAVENGE").size() == kHolders);  // each dead holder once
  auto leases = e.store().list_leases(admin(), "n:live");
  REQUIRE(leases.size() == 1);
  CHECK(leases[0].holder == live.agent);
  CHECK(e.store().journal_replay(admin()).equal);
}

// bench/node_bench.cpp — one keel node's load on a store, for multi-node runs.
//
// One process = one keel node: it opens the store as `keel serve` would
// (PostgreSQL when --url is given, else SQLite in --dir), with its own node id, and runs one kind of operation on N threads
// through the public header state/store.h, durable writes:
//   lease    acquire_lease + release_lease, each thread on its own name
//   journal  one journal_append
//   memput   memory_put of the thread's own key (shared namespace)
//   memget   memory_get of the thread's own key (written once before the start)
// Several processes started with the same --start-at (ms since the epoch) and
// --project run at once against one database: bench/harness.py runs 2 nodes x
// 8 threads this way and adds their throughput, merging the latencies each
// writes with --lat-out. A run stops after --seconds or --max-ops operations.
//
// Prints one JSON line: {op, node, backend, threads, ops, failures, seconds,
// start_ms, end_ms (epoch ms, so that a harness can time the nodes' common
// window), ops_per_s, p50_ms, p99_ms, max_ms, commits, jobs, jobs_per_commit};
// exit 1 on an error
// (its message on stderr).
//
// Usage: node_bench --op lease|journal|memput|memget (--url URL | --dir DIR)
//                   [--node ID] [--project P] [--threads N] [--seconds S]
//                   [--max-ops N] [--start-at EPOCH_MS] [--lat-out FILE]
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "state/store.h"

#include "bench/bench_util.h"

namespace st = keel::state;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kSynopsis =
    "usage: node_bench --op lease|journal|memput|memget (--url URL | --dir DIR)\n"
    "                  [--node ID] [--project P] [--threads N] [--seconds S]\n"
    "                  [--max-ops N] [--start-at EPOCH_MS] [--lat-out FILE]\n";

struct Config {
  std::string op;
  std::string url;
  std::string dir;
  std::string node = "bench-node";
  std::string project = "bench-project";
  int threads = 8;
  double seconds = 3.0;
  std::int64_t max_ops = 1'000'000;
  std::int64_t start_at_ms = 0;
  std::string lat_out;
};

[[noreturn]] void usage(const std::string& why) { keel::bench::usage_exit("node_bench", why, kSynopsis); }

st::Principal principal(const Config& cfg, int t) {
  st::Principal p;
  p.agent = "bench-" + cfg.node + "-" + std::to_string(t);
  p.project = cfg.project;
  p.capabilities = st::default_agent_capabilities();
  return p;
}

std::string key_of(const Config& cfg, int t) { return "bench/" + cfg.node + "/" + std::to_string(t); }

// One operation of thread t; false for a refusal that is not an error.
using Op = std::function<bool(int t, std::int64_t i)>;

Op make_op(const Config& cfg, st::Store& store, const std::vector<st::Principal>& who) {
  if (cfg.op == "lease") {
    return [&](int t, std::int64_t) {
      st::AcquireRequest req;
      req.name = "bench:" + cfg.node + "-" + std::to_string(t);
      req.ttl_ms = 60'000;
      req.wait_ms = 0;
      auto got = store.acquire_lease(who[static_cast<std::size_t>(t)], req);
      if (!got.granted || !got.lease) return false;
      store.release_lease(who[static_cast<std::size_t>(t)], got.lease->name, got.lease->lease_id);
      return true;
    };
  }
  if (cfg.op == "journal") {
    return [&](int t, std::int64_t i) {
      boost::json::object payload;
      payload["i"] = i;
      payload["thread"] = t;
      payload["note"] = "node_bench journal append";
      store.journal_append(who[static_cast<std::size_t>(t)], "BENCH", "bench:journal", payload);
      return true;
    };
  }
  if (cfg.op == "memput") {
    return [&](int t, std::int64_t i) {
      st::PutRequest r;
      r.ns = st::Namespace::kShared;
      r.key = key_of(cfg, t);
      r.value = boost::json::object{{"i", i}, {"note", "node_bench memory value"}};
      store.memory_put(who[static_cast<std::size_t>(t)], r);
      return true;
    };
  }
  if (cfg.op == "memget") {
    return [&](int t, std::int64_t) {
      auto g = store.memory_get(who[static_cast<std::size_t>(t)], st::Tier::kCrossRun,
                                st::Namespace::kShared, key_of(cfg, t));
      return g.found;
    };
  }
  usage("unknown --op " + cfg.op);
}

int run(const Config& cfg) {
  st::StoreOptions o;
  o.url = cfg.url;
  o.dir = cfg.dir;
  o.node = cfg.node;
  // The backend by hand rather than st::open_store(): open_store lives in
  // keel_state, linked after keel_state_pg, so a program that names only it
  // does not pull open_postgres_store in from the static library.
  auto store = cfg.url.empty() ? st::open_sqlite_store(o) : st::open_postgres_store(o);
  std::vector<st::Principal> who;
  for (int t = 0; t < cfg.threads; ++t) who.push_back(principal(cfg, t));
  if (cfg.op == "memget") {  // the keys the gets read
    for (int t = 0; t < cfg.threads; ++t) {
      st::PutRequest r;
      r.ns = st::Namespace::kShared;
      r.key = key_of(cfg, t);
      r.value = boost::json::object{{"note", "node_bench memory value"}};
      store->memory_put(who[static_cast<std::size_t>(t)], r);
    }
  }
  const Op op = make_op(cfg, *store, who);

  // Wait for the common start, so that the nodes' runs overlap.
  if (cfg.start_at_ms > 0) {
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    if (cfg.start_at_ms > now_ms) {
      std::this_thread::sleep_for(std::chrono::milliseconds(cfg.start_at_ms - now_ms));
    }
  }
  const auto epoch_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const std::int64_t start_epoch_ms = epoch_ms();
  const st::StoreStats before = store->stats();
  std::atomic<std::int64_t> claimed{0};
  std::atomic<std::int64_t> failures{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(cfg.threads));
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(cfg.seconds));
  std::vector<std::thread> pool;
  for (int t = 0; t < cfg.threads; ++t) {
    pool.emplace_back([&, t] {
      auto& mine = lat[static_cast<std::size_t>(t)];
      mine.reserve(8192);
      try {
        while (!failed.load(std::memory_order_relaxed) && Clock::now() < deadline) {
          const std::int64_t i = claimed.fetch_add(1);
          if (i >= cfg.max_ops) break;
          const auto t0 = Clock::now();
          if (!op(t, i)) failures.fetch_add(1);
          mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
      } catch (...) {
        if (!failed.exchange(true)) error = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const std::int64_t end_epoch_ms = epoch_ms();
  if (error) std::rethrow_exception(error);
  const st::StoreStats after = store->stats();

  if (!cfg.lat_out.empty()) {
    std::ofstream f(cfg.lat_out);
    for (const auto& v : lat)
      for (double ms : v) f << ms << '\n';
    if (!f) throw std::runtime_error("cannot write " + cfg.lat_out);
  }
  const keel::bench::LatencySummary l = keel::bench::summarize(lat);
  const std::int64_t commits = after.commits - before.commits;
  const std::int64_t jobs = after.jobs - before.jobs;
  boost::json::object out{
      {"op", cfg.op},
      {"node", cfg.node},
      {"backend", cfg.url.empty() ? "sqlite" : "postgres"},
      {"threads", cfg.threads},
      {"ops", static_cast<std::int64_t>(l.count)},
      {"failures", failures.load()},
      {"seconds", secs},
      {"start_ms", start_epoch_ms},
      {"end_ms", end_epoch_ms},
      {"ops_per_s", secs > 0 ? static_cast<double>(l.count) / secs : 0.0},
      {"p50_ms", l.p50},
      {"p99_ms", l.p99},
      {"max_ms", l.max},
      {"commits", commits},
      {"jobs", jobs},
      {"jobs_per_commit", commits > 0 ? static_cast<double>(jobs) / static_cast<double>(commits) : 0.0},
  };
  std::cout << boost::json::serialize(out) << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  keel::bench::parse_flags(argc, argv, usage, [&](const std::string& a, auto next) {
    if (a == "--op") cfg.op = next();
    else if (a == "--url") cfg.url = next();
    else if (a == "--dir") cfg.dir = next();
    else if (a == "--node") cfg.node = next();
    else if (a == "--project") cfg.project = next();
    else if (a == "--threads") cfg.threads = std::stoi(next());
    else if (a == "--seconds") cfg.seconds = std::stod(next());
    else if (a == "--max-ops") cfg.max_ops = std::stoll(next());
    else if (a == "--start-at") cfg.start_at_ms = std::stoll(next());
    else if (a == "--lat-out") cfg.lat_out = next();
    else if (a == "-h" || a == "--help") usage("");
    else usage("unknown argument " + a);
  });
  if (cfg.op.empty()) usage("--op is required");
  if (cfg.url.empty() == cfg.dir.empty()) usage("exactly one of --url and --dir");
  if (cfg.threads < 1 || cfg.threads > 256) usage("--threads must be 1..256");
  try {
    return run(cfg);
  } catch (const std::exception& e) {
    std::cerr << "node_bench: " << e.what() << "\n";
    return 1;
  }
}

// bench/store_bench.cpp — throughput of keel's state kernel, durable writes.
//
// Measures, each on a fresh SQLite store in a temp dir (synchronous=FULL by
// default), through the public header state/store.h only:
//   * lease acquire+release pairs per second, 1 and 16 client threads, each
//     thread on its own lease name;
//   * the same, 16 threads contending for ONE name (acquire waits);
//   * journal appends per second, 1 and 16 threads;
// and, for each run, the group-commit figures from Store::stats(): commits,
// jobs, jobs per commit, the largest batch and the batch-size histogram.
// Every run stops at a time limit or an operation count, whichever comes
// first. The result is a Markdown table on stdout.
//
// Usage: store_bench [--seconds S] [--max-ops N] [--threads N] [--sync full|normal]
//                    [--dir DIR] [--keep] [--only RUN[,RUN...]]
// RUN is lease1, lease, shared, journal1 or journal (bench/run picks the ones
// it compares with a peer).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <unistd.h>

#include "state/store.h"

#include "bench/bench_util.h"

namespace fs = std::filesystem;
namespace st = keel::state;
using Clock = std::chrono::steady_clock;

namespace {

struct Config {
  double seconds = 3.0;
  std::int64_t max_ops = 20000;  // per run
  int threads = 16;              // the "many threads" figure
  st::Synchronous sync = st::Synchronous::kFull;
  fs::path root;
  bool keep = false;
  std::string only;  // comma-separated run names; empty = all
};

bool wanted(const Config& cfg, const std::string& run) {
  if (cfg.only.empty()) return true;
  return ("," + cfg.only + ",").find("," + run + ",") != std::string::npos;
}

struct RunResult {
  std::string name;
  int threads = 0;
  std::int64_t ops = 0;
  std::int64_t failures = 0;
  double seconds = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  st::StoreStats stats;
};

// One operation of a run; returns false for a failure that is not an error
// (e.g. a lease refused).
using Op = std::function<bool(int thread, std::int64_t i)>;

st::Principal principal(const Config& cfg, const std::string& agent) {
  st::Principal p;
  p.agent = agent;
  p.project = cfg.root.string();
  p.capabilities = st::default_agent_capabilities();
  return p;
}

// Runs `op` on `threads` threads until cfg.seconds pass or cfg.max_ops
// operations have been claimed.
RunResult run(const Config& cfg, st::Store& store, const std::string& name,
              int threads, const Op& op) {
  std::atomic<std::int64_t> claimed{0};
  std::atomic<std::int64_t> failures{0};
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(threads));
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  const auto start = Clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(cfg.seconds));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto& mine = lat[static_cast<std::size_t>(t)];
      mine.reserve(4096);
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
  if (error) std::rethrow_exception(error);

  RunResult r;
  r.name = name;
  r.threads = threads;
  r.seconds = secs;
  r.failures = failures.load();
  const keel::bench::LatencySummary l = keel::bench::summarize(lat);
  r.ops = static_cast<std::int64_t>(l.count);
  r.max_ms = l.max;
  r.p99_ms = l.p99;
  r.p50_ms = l.p50;
  r.stats = store.stats();
  return r;
}

std::unique_ptr<st::Store> fresh_store(const Config& cfg, const std::string& tag) {
  st::StoreOptions o;
  o.dir = cfg.root / tag;
  o.synchronous = cfg.sync;
  return st::open_sqlite_store(o);
}

// lease acquire + release; `shared_name`: all threads contend for one name.
RunResult lease_run(const Config& cfg, int threads, bool shared_name) {
  const std::string tag = std::string("lease-") + (shared_name ? "one-name-" : "own-name-") +
                          std::to_string(threads);
  auto store = fresh_store(cfg, tag);
  std::vector<st::Principal> who;
  for (int t = 0; t < threads; ++t) who.push_back(principal(cfg, "bench-" + std::to_string(t)));
  Op op = [&](int t, std::int64_t) {
    st::AcquireRequest req;
    req.name = shared_name ? std::string("bench:shared")
                           : "bench:thread-" + std::to_string(t);
    req.ttl_ms = 60'000;
    req.wait_ms = shared_name ? 60'000 : 0;
    auto got = store->acquire_lease(who[static_cast<std::size_t>(t)], req);
    if (!got.granted || !got.lease) return false;
    store->release_lease(who[static_cast<std::size_t>(t)], got.lease->name, got.lease->lease_id);
    return true;
  };
  return run(cfg, *store,
             std::string("lease acquire+release, ") + (shared_name ? "one shared name" : "own name"),
             threads, op);
}

RunResult journal_run(const Config& cfg, int threads) {
  auto store = fresh_store(cfg, "journal-" + std::to_string(threads));
  std::vector<st::Principal> who;
  for (int t = 0; t < threads; ++t) who.push_back(principal(cfg, "bench-" + std::to_string(t)));
  Op op = [&](int t, std::int64_t i) {
    boost::json::object payload;
    payload["i"] = i;
    payload["thread"] = t;
    payload["note"] = "store_bench journal append";
    store->journal_append(who[static_cast<std::size_t>(t)], "BENCH", "bench:journal", payload);
    return true;
  };
  return run(cfg, *store, "journal append", threads, op);
}

std::string histogram(const st::StoreStats& s) {
  std::ostringstream out;
  bool first = true;
  for (std::size_t i = 0; i < s.batch_histogram.size(); ++i) {
    if (s.batch_histogram[i] == 0) continue;
    const std::int64_t lo = std::int64_t{1} << i;
    const std::int64_t hi = (std::int64_t{1} << (i + 1)) - 1;
    if (!first) out << ' ';
    first = false;
    if (lo == hi) out << lo;
    else out << lo << '-' << hi;
    out << ':' << s.batch_histogram[i];
  }
  return first ? "-" : out.str();
}

void usage() {
  std::cerr << "usage: store_bench [--seconds S] [--max-ops N] [--threads N] "
               "[--sync full|normal] [--dir DIR] [--keep] "
               "[--only lease1,lease,shared,journal1,journal]\n";
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  std::string dir_arg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&](const char* what) -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs " << what << "\n";
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seconds") cfg.seconds = std::stod(need("a number"));
    else if (a == "--max-ops") cfg.max_ops = std::stoll(need("a count"));
    else if (a == "--threads") cfg.threads = std::stoi(need("a count"));
    else if (a == "--sync") {
      std::string v = need("full|normal");
      if (v == "full") cfg.sync = st::Synchronous::kFull;
      else if (v == "normal") cfg.sync = st::Synchronous::kNormal;
      else {
        usage();
        return 2;
      }
    } else if (a == "--dir") dir_arg = need("a directory");
    else if (a == "--keep") cfg.keep = true;
    else if (a == "--only") cfg.only = need("run names");
    else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else {
      std::cerr << "unknown argument " << a << "\n";
      usage();
      return 2;
    }
  }
  if (cfg.seconds <= 0 || cfg.max_ops <= 0 || cfg.threads <= 0) {
    usage();
    return 2;
  }

  // A fresh temp dir; the per-run stores live under it.
  if (dir_arg.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "keel-bench-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    cfg.root = buf.data();
  } else {
    cfg.root = fs::absolute(dir_arg);
    fs::create_directories(cfg.root);
  }

  std::vector<RunResult> results;
  int rc = 0;
  try {
    const int n = cfg.threads;
    if (wanted(cfg, "lease1")) results.push_back(lease_run(cfg, 1, false));
    if (wanted(cfg, "lease")) results.push_back(lease_run(cfg, n, false));
    if (wanted(cfg, "shared")) results.push_back(lease_run(cfg, n, true));
    if (wanted(cfg, "journal1")) results.push_back(journal_run(cfg, 1));
    if (wanted(cfg, "journal")) results.push_back(journal_run(cfg, n));
  } catch (const st::StoreError& e) {
    std::cerr << "store_bench: StoreError " << st::to_string(e.code()) << ": " << e.what() << "\n";
    rc = 1;
  } catch (const std::exception& e) {
    std::cerr << "store_bench: " << e.what() << "\n";
    rc = 1;
  }

  std::cout << "# keel store_bench\n\n"
            << "synchronous=" << (cfg.sync == st::Synchronous::kFull ? "FULL" : "NORMAL")
            << ", " << std::thread::hardware_concurrency() << " cores, each run bounded by "
            << cfg.seconds << " s or " << cfg.max_ops << " ops, fresh store per run under "
            << cfg.root.string() << "\n\n"
            << "| run | threads | ops | s | ops/s | p50 ms | p99 ms | max ms | commits | jobs | "
               "jobs/commit | max batch | batch histogram (size:commits) |\n"
            << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& r : results) {
    char line[512];
    const double rate = r.seconds > 0 ? static_cast<double>(r.ops) / r.seconds : 0;
    const double avg = r.stats.commits > 0 ? static_cast<double>(r.stats.jobs) /
                                                 static_cast<double>(r.stats.commits)
                                           : 0;
    std::snprintf(line, sizeof line,
                  "| %s%s | %d | %lld | %.2f | %.0f | %.2f | %.2f | %.2f | %lld | %lld | %.2f | %lld | ",
                  r.name.c_str(),
                  r.failures ? (" (" + std::to_string(r.failures) + " failed)").c_str() : "",
                  r.threads, static_cast<long long>(r.ops), r.seconds, rate, r.p50_ms, r.p99_ms,
                  r.max_ms, static_cast<long long>(r.stats.commits),
                  static_cast<long long>(r.stats.jobs), avg,
                  static_cast<long long>(r.stats.max_batch));
    std::cout << line << histogram(r.stats) << " |\n";
  }
  std::cout << "\nA lease op is one acquire plus one release (two durable writes). "
               "jobs/commit is the group-commit batch size (jobs / commits).\n";

  if (!cfg.keep && dir_arg.empty()) {
    std::error_code ec;
    fs::remove_all(cfg.root, ec);
  }
  return rc;
}

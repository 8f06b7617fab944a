// bench/lease_wait_bench.cpp — grant-wait distribution and fairness under
// contention for one hot exclusive lease.
//
// N contenders (agents) repeatedly acquire ONE exclusive name with wait_ms,
// hold it briefly (--hold-ms), release it, and ask again at once. A
// contender's wait is the time from calling acquire_lease to its answer (a
// grant, or a refusal after wait_ms: a timeout). The contenders are spread
// over P processes (--procs; contender c runs in process c % P, on its own
// thread): P = N is N agents each with its own `keel serve --stdio`, P = 1 is
// one `keel serve --http` serving every agent, and with PostgreSQL (--url) a
// process is a node (its own node id, pool and writer) sharing the database.
// Every process opens the store as `keel serve` does and drives the public
// header state/store.h: no MCP on the path.
//
// The store is created first (one process opens and closes it), then the
// processes start together (a common start time, once every one has opened
// it) and stop asking after --seconds; a contender waiting at
// that moment keeps waiting until it is answered (so the tail is measured,
// bounded by wait_ms). Prints one JSON line:
//   {backend, contenders, procs, seconds, hold_ms, wait_ms, grants, timeouts,
//    errors, grants_per_s, wait_p50_ms, wait_p90_ms, wait_p99_ms,
//    wait_max_ms, grants_min, grants_max, jain}
// grants_min / grants_max are the fewest and most grants one contender got;
// jain is Jain's fairness index of the grants per contender, (Σx)²/(N·Σx²):
// 1 when every contender got as many, 1/N when one got them all.
// Exit 1 when a process failed (its message on stderr) or overran its bound.
//
// Usage: lease_wait_bench (--dir DIR | --url URL) [--contenders N] [--procs P]
//                         [--seconds S] [--hold-ms H] [--wait-ms W] [--ttl-ms T]
//                         [--project ID] [--pool N]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "state/store.h"

#include "bench/bench_util.h"

namespace fs = std::filesystem;
namespace st = keel::state;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kSynopsis =
    "usage: lease_wait_bench (--dir DIR | --url URL) [--contenders N] [--procs P]\n"
    "                        [--seconds S] [--hold-ms H] [--wait-ms W] [--ttl-ms T]\n"
    "                        [--project ID] [--pool N]\n";

constexpr const char* kHotName = "bench:hot";

struct Config {
  std::string dir;
  std::string url;
  int contenders = 8;
  int procs = 0;  // 0: one per contender
  double seconds = 3.0;
  std::int64_t hold_ms = 5;
  std::int64_t wait_ms = 20'000;
  std::int64_t ttl_ms = 30'000;
  std::string project = "bench-lease-wait";
  int pool = 2;  // PostgreSQL connections per process
};

[[noreturn]] void usage(const std::string& why) {
  keel::bench::usage_exit("lease_wait_bench", why, kSynopsis);
}

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What one contender saw.
struct Contender {
  int id = 0;
  std::int64_t grants = 0;
  std::int64_t timeouts = 0;
  std::vector<double> waits_ms;  // every answer, granted or timed out
};

// One process: opens the store, runs its contenders' threads from start_at
// for cfg.seconds, writes what they saw to `out` (text: "C id grants
// timeouts", then "W ms" per wait, then "E end_epoch_ms"). Returns the exit code.
int run_process(const Config& cfg, int index, std::int64_t start_at, const fs::path& out) {
  try {
    st::StoreOptions o;
    o.url = cfg.url;
    o.dir = cfg.dir;
    o.node = "wait-n" + std::to_string(index);
    o.pg_pool_size = cfg.pool;
    // By backend rather than st::open_store(), as node_bench: open_store
    // would not pull open_postgres_store from the static library.
    auto store = cfg.url.empty() ? st::open_sqlite_store(o) : st::open_postgres_store(o);

    std::vector<Contender> mine;
    for (int c = index; c < cfg.contenders; c += cfg.procs) mine.push_back(Contender{c, 0, 0, {}});
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    const std::int64_t now = epoch_ms();
    if (start_at > now) std::this_thread::sleep_for(std::chrono::milliseconds(start_at - now));
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(cfg.seconds));
    std::vector<std::thread> pool;
    for (auto& me : mine) {
      pool.emplace_back([&, c = &me] {
        st::Principal who;
        who.agent = "wait-c" + std::to_string(c->id);
        who.project = cfg.project;
        who.capabilities = st::default_agent_capabilities();
        c->waits_ms.reserve(4096);
        try {
          while (!failed.load(std::memory_order_relaxed) && Clock::now() < deadline) {
            st::AcquireRequest req;
            req.name = kHotName;
            req.ttl_ms = cfg.ttl_ms;
            req.wait_ms = cfg.wait_ms;
            const auto t0 = Clock::now();
            const st::AcquireResult got = store->acquire_lease(who, req);
            c->waits_ms.push_back(
                std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
            if (!got.granted || !got.lease) {
              ++c->timeouts;
              continue;
            }
            ++c->grants;
            std::this_thread::sleep_for(std::chrono::milliseconds(cfg.hold_ms));
            store->release_lease(who, got.lease->name, got.lease->lease_id);
          }
        } catch (...) {
          if (!failed.exchange(true)) error = std::current_exception();
        }
      });
    }
    for (auto& t : pool) t.join();
    if (error) std::rethrow_exception(error);

    std::ofstream f(out);
    for (const auto& c : mine) {
      f << "C " << c.id << ' ' << c.grants << ' ' << c.timeouts << '\n';
      for (double w : c.waits_ms) f << "W " << w << '\n';
    }
    f << "E " << epoch_ms() << '\n';
    f.close();
    if (!f) throw std::runtime_error("cannot write " + out.string());
    return 0;
  } catch (const st::StoreError& e) {
    std::cerr << "lease_wait_bench[" << index << "]: " << st::to_string(e.code()) << ": "
              << e.what() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "lease_wait_bench[" << index << "]: " << e.what() << "\n";
  }
  return 1;
}

// Waits for every child, killing them all once `limit_ms` has passed.
// Returns true when each exited 0.
bool reap(const std::vector<pid_t>& kids, std::int64_t limit_ms) {
  const auto until = Clock::now() + std::chrono::milliseconds(limit_ms);
  std::vector<bool> done(kids.size(), false);
  std::size_t left = kids.size();
  bool ok = true;
  bool killed = false;
  while (left > 0) {
    for (std::size_t i = 0; i < kids.size(); ++i) {
      if (done[i]) continue;
      int status = 0;
      const pid_t r = ::waitpid(kids[i], &status, WNOHANG);
      if (r == 0) continue;
      done[i] = true;
      --left;
      if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) ok = false;
    }
    if (left == 0) break;
    if (!killed && Clock::now() > until) {
      std::cerr << "lease_wait_bench: processes still running after " << limit_ms
                << " ms; killing them\n";
      for (std::size_t i = 0; i < kids.size(); ++i)
        if (!done[i]) ::kill(kids[i], SIGKILL);
      killed = true;
      ok = false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ok;
}

// Opens the store once in a child process and closes it, so that the
// contenders open an existing store: the bench measures waiting, not N
// processes creating one store at once. The parent itself opens nothing (it
// forks the contenders afterwards). Returns true when the child exited 0.
bool create_store(const Config& cfg) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    return false;
  }
  if (pid == 0) {
    int rc = 1;
    try {
      st::StoreOptions o;
      o.url = cfg.url;
      o.dir = cfg.dir;
      o.node = "wait-init";
      o.pg_pool_size = 1;
      auto store = cfg.url.empty() ? st::open_sqlite_store(o) : st::open_postgres_store(o);
      store.reset();
      rc = 0;
    } catch (const std::exception& e) {
      std::cerr << "lease_wait_bench: opening the store: " << e.what() << "\n";
    }
    std::cerr.flush();
    ::_exit(rc);
  }
  return reap({pid}, 120'000);
}

int run(const Config& cfg, const fs::path& work) {
  if (!create_store(cfg)) return 1;
  const std::int64_t start_at = epoch_ms() + 1500 + 30LL * cfg.procs;
  const std::int64_t t_start = start_at;
  std::vector<pid_t> kids;
  std::cout.flush();
  std::cerr.flush();
  for (int i = 0; i < cfg.procs; ++i) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("fork");
      for (pid_t k : kids) ::kill(k, SIGKILL);
      reap(kids, 0);
      return 1;
    }
    if (pid == 0) {
      // The parent is single-threaded and has opened nothing: the child
      // starts clean. _exit: no atexit handlers of the parent's copy.
      const int rc = run_process(cfg, i, start_at, work / ("proc-" + std::to_string(i) + ".txt"));
      std::cout.flush();
      std::cerr.flush();
      ::_exit(rc);
    }
    kids.push_back(pid);
  }
  const std::int64_t limit_ms =
      (start_at - epoch_ms()) + static_cast<std::int64_t>(cfg.seconds * 1000) + cfg.wait_ms + 60'000;
  if (!reap(kids, limit_ms)) return 1;

  std::vector<Contender> all;
  std::vector<double> waits;
  std::int64_t end_ms = t_start;
  for (int i = 0; i < cfg.procs; ++i) {
    std::ifstream f(work / ("proc-" + std::to_string(i) + ".txt"));
    std::string tag;
    while (f >> tag) {
      if (tag == "C") {
        Contender c;
        f >> c.id >> c.grants >> c.timeouts;
        all.push_back(c);
      } else if (tag == "W") {
        double w = 0;
        f >> w;
        waits.push_back(w);
      } else if (tag == "E") {
        std::int64_t e = 0;
        f >> e;
        end_ms = std::max(end_ms, e);
      } else {
        std::cerr << "lease_wait_bench: bad result line from process " << i << "\n";
        return 1;
      }
    }
  }
  if (static_cast<int>(all.size()) != cfg.contenders) {
    std::cerr << "lease_wait_bench: " << all.size() << " contenders reported, "
              << cfg.contenders << " ran\n";
    return 1;
  }
  std::int64_t grants = 0, timeouts = 0, gmin = INT64_MAX, gmax = 0;
  double sum = 0, sum_sq = 0;
  for (const auto& c : all) {
    grants += c.grants;
    timeouts += c.timeouts;
    gmin = std::min(gmin, c.grants);
    gmax = std::max(gmax, c.grants);
    sum += static_cast<double>(c.grants);
    sum_sq += static_cast<double>(c.grants) * static_cast<double>(c.grants);
  }
  const double window_s = static_cast<double>(end_ms - t_start) / 1000.0;
  const double max_wait = waits.empty() ? 0 : *std::max_element(waits.begin(), waits.end());
  const double p90 = keel::bench::percentile(waits, 90);
  const double p99 = keel::bench::percentile(waits, 99);
  const double p50 = keel::bench::percentile(waits, 50);
  boost::json::object out{
      {"backend", cfg.url.empty() ? "sqlite" : "postgres"},
      {"contenders", cfg.contenders},
      {"procs", cfg.procs},
      {"seconds", window_s},
      {"hold_ms", cfg.hold_ms},
      {"wait_ms", cfg.wait_ms},
      {"grants", grants},
      {"timeouts", timeouts},
      {"grants_per_s", window_s > 0 ? static_cast<double>(grants) / window_s : 0.0},
      {"wait_p50_ms", p50},
      {"wait_p90_ms", p90},
      {"wait_p99_ms", p99},
      {"wait_max_ms", max_wait},
      {"grants_min", gmin == INT64_MAX ? 0 : gmin},
      {"grants_max", gmax},
      {"jain", sum_sq > 0 ? sum * sum / (static_cast<double>(cfg.contenders) * sum_sq) : 0.0},
  };
  std::cout << boost::json::serialize(out) << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  keel::bench::parse_flags(argc, argv, usage, [&](const std::string& a, auto next) {
    if (a == "--dir") cfg.dir = next();
    else if (a == "--url") cfg.url = next();
    else if (a == "--contenders") cfg.contenders = std::stoi(next());
    else if (a == "--procs") cfg.procs = std::stoi(next());
    else if (a == "--seconds") cfg.seconds = std::stod(next());
    else if (a == "--hold-ms") cfg.hold_ms = std::stoll(next());
    else if (a == "--wait-ms") cfg.wait_ms = std::stoll(next());
    else if (a == "--ttl-ms") cfg.ttl_ms = std::stoll(next());
    else if (a == "--project") cfg.project = next();
    else if (a == "--pool") cfg.pool = std::stoi(next());
    else if (a == "-h" || a == "--help") usage("");
    else usage("unknown argument " + a);
  });
  if (cfg.url.empty() == cfg.dir.empty()) usage("exactly one of --url and --dir");
  if (cfg.contenders < 1 || cfg.contenders > 256) usage("--contenders must be 1..256");
  if (cfg.procs == 0) cfg.procs = cfg.contenders;
  if (cfg.procs < 1 || cfg.procs > cfg.contenders) usage("--procs must be 1..contenders");
  if (cfg.seconds <= 0 || cfg.seconds > 3600) usage("--seconds must be in (0, 3600]");
  if (cfg.hold_ms < 0 || cfg.wait_ms < 1 || cfg.ttl_ms < 1) usage("bad --hold-ms, --wait-ms or --ttl-ms");
  if (cfg.pool < 1) usage("--pool must be ≥ 1");
  if (!cfg.dir.empty()) {
    cfg.dir = fs::absolute(cfg.dir).string();
    fs::create_directories(cfg.dir);
  }
  std::string tmpl = (fs::temp_directory_path() / "keel-lease-wait-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const fs::path work = buf.data();
  int rc = 1;
  try {
    rc = run(cfg, work);
  } catch (const std::exception& e) {
    std::cerr << "lease_wait_bench: " << e.what() << "\n";
  }
  std::error_code ec;
  fs::remove_all(work, ec);
  return rc;
}

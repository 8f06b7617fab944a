// keel/state/postgres/pg_store_leases_wait.cpp — PostgreSQL: acquire_lease,
// the loop that waits (wait_ms) between attempts (pg_store_leases.cpp's
// try_acquire) in the project's fair queue.
//
// As on SQLite: the first attempt always runs; a refused waiting attempt
// puts the call's row in lease_waiters (its place in the queue) and every
// later one keeps it alive; a refused attempt journals nothing until the
// final one (at the deadline), which leaves the queue and journals one
// REFUSE; waits hold no transaction and no connection; `cancelled` abandons
// a wait, and a call that ends without a grant (cancelled, an error) deletes
// its row and wakes the others.
//
// Differences, and why:
//   * Waiters wake on the keel_lease notification (a hold freed or a queue
//     row gone, on any node), and poll every 200 ms for what notifies no one
//     (a hold that ran out by its TTL, a notification lost with the
//     listener's connection).
//   * A retry first reads, without the project's lock, whether an attempt
//     could change anything: the same decision (lease_queue::decide) on the
//     rows as committed, granted; a holder in the way of a dead process of
//     this host; the caller suspended. Every attempt takes the project's
//     chain_heads lock, which every write of the project on every node
//     queues behind, so a herd of waiters woken by one release would
//     otherwise hold up the very writes they wait for. The read is only a
//     hint: the decision is try_acquire's, under the lock, and the final
//     attempt always runs. An attempt also runs at least every
//     kRefreshEvery, which keeps the call's queue row alive
//     (kLeaseWaiterLivenessMs).
//   * BUSY (the database unreachable or restarting) on an attempt before the
//     final one does not end the wait: the store reconnects meanwhile.
#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "state/lease_name.h"
#include "state/lease_queue.h"
#include "state/lease_rules.h"
#include "state/postgres/pg_store.h"
#include "state/postgres/pg_store_leases_util.h"

namespace keel::state {
using namespace pg_store_detail;
using namespace pg_lease_util;

namespace {

// The longest a waiting acquire sleeps between attempts when no
// notification arrives.
constexpr std::chrono::milliseconds kPollStep{200};
// The longest a queued call goes without an attempt (each one refreshes its
// row's alive_until, kLeaseWaiterLivenessMs = 5 s).
constexpr std::chrono::milliseconds kRefreshEvery{1000};
// The most a woken waiter waits before it looks (see the loop).
constexpr int kMaxJitterMs = 4;

// False when an attempt now would surely be refused without changing
// anything: decided on the committed rows (read without the lock), the
// request is not granted, no holder in the way is of a process this host
// sees gone, and the caller is not suspended. True otherwise (also when in
// doubt).
bool worth_an_attempt(PgStore& store, const Principal& who, const AcquireRequest& request,
                      const std::vector<LeaseName>& names, std::string_view own_waiter) {
  struct Holder {
    std::string status;  // as stored ("active", "gone", "suspended", ...)
    std::string host_key;
    std::int64_t pid = 0;
    std::int64_t start_time = 0;
  };
  struct Seen {
    std::int64_t now = 0;
    std::vector<LeaseInfo> live;
    std::vector<lease_queue::QueuedWaiter> waiters;
    std::map<std::string, std::int64_t> declared;
    std::map<std::string, Holder> agents;  // the caller and the live holders, registered
    bool suspended = false;
  };
  const Seen seen = store.read(
      [&](pg::Connection& c) {
        Seen s;
        s.now = store.now(c);
        static const std::string live_sql =
            lease_select("project = $1 AND expires_at > $2 ORDER BY token");
        s.live = read_leases(c.exec_prepared("lease_wait_live", live_sql, {who.project, s.now}));
        s.waiters = read_waiters(c, who.project);
        s.declared = declared_capacities(c, who.project);
        const pg::Result r = c.exec_prepared(
            "lease_wait_agents",
            "SELECT name, coalesce(host_key, ''), coalesce(pid, 0), coalesce(start_time, 0),"
            " coalesce(status, '') FROM agents WHERE project = $1"
            " AND (name = $2 OR name IN (SELECT holder FROM leases WHERE project = $1"
            " AND expires_at > $3))",
            {who.project, who.agent, s.now});
        for (int i = 0; i < r.rows(); ++i) {
          Holder h{r.text(i, 4), r.text(i, 1), r.int64(i, 2), r.int64(i, 3)};
          if (r.text(i, 0) == who.agent && h.status == "suspended") s.suspended = true;
          s.agents.emplace(r.text(i, 0), std::move(h));
        }
        return s;
      },
      /*snapshot=*/true);
  if (seen.suspended) return true;  // the attempt reports it
  lease_queue::Decision d;
  try {
    const lease_rules::ResolvedCapacities capacities =
        lease_rules::resolve_capacities(names, request, store.options(), seen.declared);
    d = lease_queue::decide(who.agent, request, names, seen.now, seen.live, seen.waiters,
                            capacities.counted, own_waiter);
  } catch (const StoreError&) {
    return true;  // the attempt reports it
  }
  if (d.granted) return true;
  // As scavenge_if_dead decides: an anchored, not yet gone holder whose
  // process this host sees gone is freed by the attempt.
  for (const LeaseInfo& l : d.holders) {
    const auto it = seen.agents.find(l.holder);
    if (it == seen.agents.end()) continue;
    const Holder& h = it->second;
    if (h.status != "gone" && !h.host_key.empty() &&
        store.processes().liveness(ProcessAnchor{h.host_key, h.pid, h.start_time}) ==
            Liveness::kDead) {
      return true;
    }
  }
  return false;
}

std::chrono::milliseconds jitter() {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return std::chrono::milliseconds(std::uniform_int_distribution<int>(0, kMaxJitterMs)(rng));
}

}  // namespace

AcquireResult PgStore::acquire_lease(const Principal& who, const AcquireRequest& request,
                                     const CancelCheck& cancelled) {
  validate_lease_principal(who);
  lease_rules::check_acquire(request, options_);
  AcquireAttempt attempt;
  attempt.names = lease_rules::canonical_names(request);
  for (const LeaseName& n : attempt.names) require_text("the lease name", n.str());
  require_text("the reason", request.reason);
  if (request.request_id) {
    require_text("request_id", *request.request_id);
    attempt.args_hash = lease_rules::args_hash(attempt.names, request);
  }

  const auto started = std::chrono::steady_clock::now();
  const WaitDeadline deadline(request.wait_ms);
  auto last_attempt = started;
  try {
    for (bool first = true;; first = false) {
      // The epoch is read before the attempt (or the read that stands in for
      // it): a release committed after it looked at the table bumps it, so
      // the wait below cannot miss it.
      std::uint64_t epoch;
      {
        std::lock_guard<std::mutex> lock(wake_mu_);
        epoch = lease_epoch_;
      }
      attempt.final = request.wait_ms == 0 || deadline.passed();
      attempt.timed_out = request.wait_ms > 0 && attempt.final;
      const auto at = std::chrono::steady_clock::now();
      attempt.waited_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(at - started).count();
      AcquireResult result;
      bool attempted = false;
      try {
        const std::string own = attempt.waiter ? attempt.waiter->waiter_id : std::string();
        if (first || attempt.final || at - last_attempt >= kRefreshEvery ||
            worth_an_attempt(*this, who, request, attempt.names, own)) {
          attempted = true;
          last_attempt = at;
          result = try_acquire(who, request, attempt);
        }
      } catch (const StoreError& e) {
        // The database unreachable or restarting (kBusy) while the caller is
        // willing to wait: the wait goes on and the store reconnects; only
        // the final attempt reports it. (A grant whose COMMIT was cut off is
        // found again as already held.)
        if (e.code() != ErrorCode::kBusy || attempt.final) throw;
        attempted = false;
      }
      if (attempted && (result.granted || result.replayed || attempt.final)) return result;
      // Cancellation abandons a wait; it never stops the first attempt (a
      // call still running when its client went away may yet be granted at
      // once).
      if (cancelled && cancelled()) {
        throw lease_rules::wait_cancelled(attempt.names.front().str());
      }

      // Wait holding no transaction and no connection: until a keel_lease
      // notification (a hold freed or a queue row gone, on any node, or in
      // this process), the poll step, or the deadline, whichever comes first.
      const auto step = deadline.next_step(kPollStep);
      bool woken = false;
      {
        std::unique_lock<std::mutex> lock(wake_mu_);
        woken = wake_cv_.wait_for(lock, step, [&] { return lease_epoch_ != epoch; });
      }
      // Every waiter wakes on a release; staggered by a few ms, most of them
      // find the winner's grant (or the queue ahead) in their read and go
      // back to waiting.
      if (woken) std::this_thread::sleep_for(deadline.next_step(jitter()));
    }
  } catch (...) {
    // Cancelled, or an attempt failed: the call leaves the queue now rather
    // than blocking others until its row's liveness runs out.
    if (attempt.waiter) {
      try {
        leave_queue(who.project, attempt.waiter->waiter_id);
      } catch (const std::exception&) {
        // The row dies by itself kLeaseWaiterLivenessMs later.
      }
    }
    throw;
  }
}

}  // namespace keel::state

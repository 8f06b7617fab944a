// keel/state/postgres/pg_store_leases_wait.cpp — PostgreSQL: acquire_lease,
// the loop that waits (wait_ms) between attempts (pg_store_leases.cpp's
// try_acquire).
//
// As on SQLite: the first attempt always runs; a refused attempt journals
// nothing until the final one (at the deadline), which journals one REFUSE;
// waits hold no transaction and no connection; `cancelled` abandons a wait.
//
// Differences, and why:
//   * Waiters wake on the keel_lease notification (a hold freed on any
//     node), and poll every 200 ms for what notifies no one (a hold that ran
//     out by its TTL, a notification lost with the listener's connection).
//   * A retry first reads, without the project's lock, whether an attempt
//     could change anything (the holds in the way are gone, expired, or of a
//     dead process of this host; the caller was suspended). Every attempt
//     takes the project's chain_heads lock, which every write of the project
//     on every node queues behind, so a herd of waiters woken by one release
//     would otherwise hold up the very writes they wait for. The read is
//     only a hint: the decision is try_acquire's, under the lock, and the
//     final attempt always runs.
//   * BUSY (the database unreachable or restarting) on an attempt before the
//     final one does not end the wait: the store reconnects meanwhile.
#include <chrono>
#include <random>
#include <thread>

#include "state/lease_name.h"
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
// The most a woken waiter waits before it looks (see the loop).
constexpr int kMaxJitterMs = 4;

// False when an attempt now would surely be refused without changing
// anything: a live hold of another agent is in the way, whose process is not
// known to be gone, and the caller is not suspended. True otherwise (also
// when in doubt).
bool worth_an_attempt(PgStore& store, const Principal& who, const LeaseName& name,
                      LeaseMode mode) {
  struct Hold {
    std::string name;
    LeaseMode mode;
    AgentInfo holder;  // host_key, pid, start_time, status ("" when unregistered)
    std::string holder_status;
    std::string my_status;
  };
  const std::vector<Hold> holds = store.read([&](pg::Connection& c) {
    const pg::Result r = c.exec_prepared(
        "lease_wait_holds",
        "SELECT l.name, l.mode, coalesce(a.host_key, ''), coalesce(a.pid, 0),"
        " coalesce(a.start_time, 0), coalesce(a.status, ''),"
        " coalesce((SELECT m.status FROM agents m WHERE m.project = $1 AND m.name = $3), '')"
        " FROM leases l LEFT JOIN agents a ON a.project = l.project AND a.name = l.holder"
        " WHERE l.project = $1 AND l.expires_at > $2 AND l.holder <> $3",
        {who.project, store.now(c), who.agent});
    std::vector<Hold> out;
    for (int i = 0; i < r.rows(); ++i) {
      Hold h;
      h.name = r.text(i, 0);
      h.mode = r.text(i, 1) == "shared" ? LeaseMode::kShared : LeaseMode::kExclusive;
      h.holder.host_key = r.text(i, 2);
      h.holder.pid = r.int64(i, 3);
      h.holder.start_time = r.int64(i, 4);
      h.holder_status = r.text(i, 5);
      h.my_status = r.text(i, 6);
      out.push_back(std::move(h));
    }
    return out;
  });
  bool blocked = false;
  for (const Hold& h : holds) {
    if (h.my_status == "suspended") return true;  // the attempt reports it
    if (!name.overlaps(h.name) || !lease_modes_conflict(h.mode, mode)) continue;
    // As scavenge_if_dead decides: an anchored, not yet gone holder whose
    // process this host sees gone is freed by the attempt.
    if (!h.holder_status.empty() && h.holder_status != "gone" && !h.holder.host_key.empty() &&
        store.processes().liveness(ProcessAnchor{h.holder.host_key, h.holder.pid,
                                                 h.holder.start_time}) == Liveness::kDead) {
      return true;
    }
    blocked = true;
  }
  return !blocked;
}

std::chrono::milliseconds jitter() {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return std::chrono::milliseconds(std::uniform_int_distribution<int>(0, kMaxJitterMs)(rng));
}

}  // namespace

AcquireResult PgStore::acquire_lease(const Principal& who, const AcquireRequest& request,
                                     const CancelCheck& cancelled) {
  validate_lease_principal(who);
  const LeaseName name = LeaseName::parse(request.name);
  lease_rules::check_acquire(request, options_);
  require_text("the lease name", name.str());
  require_text("the reason", request.reason);
  if (request.request_id) require_text("request_id", *request.request_id);

  const WaitDeadline deadline(request.wait_ms);
  for (bool first = true;; first = false) {
    // The epoch is read before the attempt (or the read that stands in for
    // it): a release committed after it looked at the table bumps it, so the
    // wait below cannot miss it.
    std::uint64_t epoch;
    {
      std::lock_guard<std::mutex> lock(wake_mu_);
      epoch = lease_epoch_;
    }
    const bool final_attempt = request.wait_ms == 0 || deadline.passed();
    AcquireResult result;
    try {
      if (first || final_attempt || worth_an_attempt(*this, who, name, request.mode)) {
        result = try_acquire(who, name, request, final_attempt);
      }
    } catch (const StoreError& e) {
      // The database unreachable or restarting (kBusy) while the caller is
      // willing to wait: the wait goes on and the store reconnects; only
      // the final attempt reports it. (A grant whose COMMIT was cut off is
      // found again as already held.)
      if (e.code() != ErrorCode::kBusy || final_attempt) throw;
    }
    if (result.granted || final_attempt) return result;
    // Cancellation abandons a wait; it never stops the first attempt (a call
    // still running when its client went away may yet be granted at once).
    if (cancelled && cancelled()) {
      throw lease_rules::wait_cancelled(name.str());
    }

    // Wait holding no transaction and no connection: until a keel_lease
    // notification (a hold freed on any node, or in this process), the poll
    // step, or the deadline, whichever comes first.
    const auto step = deadline.next_step(kPollStep);
    bool woken = false;
    {
      std::unique_lock<std::mutex> lock(wake_mu_);
      woken = wake_cv_.wait_for(lock, step, [&] { return lease_epoch_ != epoch; });
    }
    // Every waiter wakes on a release; staggered by a few ms, most of them
    // find the winner's grant in their read and go back to waiting.
    if (woken) std::this_thread::sleep_for(deadline.next_step(jitter()));
  }
}

}  // namespace keel::state

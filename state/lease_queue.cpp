// keel/state/lease_queue.cpp — see lease_queue.h.
#include "state/lease_queue.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "crypto/random.h"
#include "state/journal.h"

namespace keel::state::lease_queue {
namespace json = boost::json;

std::int64_t rank_ms(std::int64_t enqueued_at_ms, int priority) {
  return enqueued_at_ms - static_cast<std::int64_t>(priority) * kLeasePriorityStepMs;
}

std::int64_t alive_until(std::int64_t now_ms) { return now_ms + kLeaseWaiterLivenessMs; }

LeaseWaiter new_waiter(std::string_view agent, const std::vector<LeaseName>& names,
                       const AcquireRequest& request, std::int64_t now_ms) {
  LeaseWaiter w;
  w.waiter_id = "w_" + crypto::random_hex(16);
  w.agent = std::string(agent);
  w.names = lease_rules::name_strings(names);
  w.mode = request.mode;
  w.units = request.units;
  w.priority = request.priority;
  w.enqueued_at_ms = now_ms;
  w.rank_ms = rank_ms(now_ms, request.priority);
  return w;
}

std::string names_to_json(const std::vector<std::string>& names) {
  json::array a;
  for (const std::string& n : names) a.push_back(json::string(n));
  return json::serialize(a);
}

std::vector<std::string> names_from_json(std::string_view text) {
  try {
    const json::value v = json::parse(text);
    std::vector<std::string> out;
    for (const json::value& n : v.as_array()) out.emplace_back(n.as_string());
    return out;
  } catch (const std::exception& e) {
    throw StoreError(ErrorCode::kInternal,
                     std::string("malformed lease_waiters names_json: ") + e.what());
  }
}

bool ranked_before(const QueuedWaiter& a, const QueuedWaiter& b) {
  return std::tie(a.waiter.rank_ms, a.seq) < std::tie(b.waiter.rank_ms, b.seq);
}

void sort_waiters(std::vector<QueuedWaiter>& waiters) {
  std::sort(waiters.begin(), waiters.end(), ranked_before);
}

bool requests_conflict(const std::vector<std::string>& a_names, LeaseMode a_mode,
                       const std::vector<std::string>& b_names, LeaseMode b_mode,
                       const Capacities& counted) {
  const bool modes_conflict = lease_modes_conflict(a_mode, b_mode);
  for (const std::string& a : a_names) {
    for (const std::string& b : b_names) {
      if (!lease_names_overlap(a, b)) continue;
      // Counted names are free names, which overlap only themselves (a == b).
      if (modes_conflict || counted.count(a) > 0 || counted.count(b) > 0) return true;
    }
  }
  return false;
}

std::int64_t Decision::tokens_needed() const {
  return std::count_if(plan.begin(), plan.end(),
                       [](const NamePlan& p) { return p.step != Step::kReuse; });
}

namespace {

std::optional<std::int64_t> capacity_of(const Capacities& counted, std::string_view name) {
  const auto it = counted.find(name);
  if (it == counted.end()) return std::nullopt;
  return it->second;
}

// The caller's live hold that answers `name` by itself, or nullptr.
const LeaseInfo* own_answer(const std::vector<LeaseInfo>& live, std::string_view agent,
                            std::string_view name, const AcquireRequest& request,
                            bool counted) {
  if (!counted) return lease_rules::already_held(live, agent, name, request.mode);
  for (const LeaseInfo& l : live) {
    if (l.holder == agent && l.name == name && l.units >= request.units) return &l;
  }
  return nullptr;
}

// True when the caller's own live holds stop `w`: a non-counted overlap in
// conflicting modes, or a counted name where the caller holds units and `w`
// does not fit beside the units held. `w` cannot be served before the
// caller releases.
bool blocked_by_caller(const LeaseWaiter& w, std::string_view agent,
                       const std::vector<LeaseInfo>& live, const Capacities& counted) {
  for (const std::string& n : w.names) {
    if (const std::optional<std::int64_t> cap = capacity_of(counted, n)) {
      const bool caller_holds = std::any_of(live.begin(), live.end(), [&](const LeaseInfo& l) {
        return l.holder == agent && l.name == n;
      });
      // used ≤ capacity ≤ INT64_MAX and units ≤ kMaxLeaseCapacity: no overflow.
      if (caller_holds && lease_rules::used_units(live, n) > *cap - w.units) return true;
      continue;
    }
    for (const LeaseInfo& l : live) {
      if (l.holder != agent || counted.count(l.name) > 0) continue;
      if (lease_names_overlap(l.name, n) && lease_modes_conflict(l.mode, w.mode)) return true;
    }
  }
  return false;
}

}  // namespace

Decision decide(std::string_view agent, const AcquireRequest& request,
                const std::vector<LeaseName>& names, std::int64_t now_ms,
                const std::vector<LeaseInfo>& live, const std::vector<QueuedWaiter>& waiters,
                const Capacities& counted, std::string_view own_waiter_id) {
  Decision d;
  std::vector<NamePlan> plan;
  std::vector<std::string> wanted;  // the names not answered by an own hold
  for (const LeaseName& name : names) {
    NamePlan p;
    p.name = name.str();
    p.capacity = capacity_of(counted, p.name);
    if (const LeaseInfo* own = own_answer(live, agent, p.name, request, p.capacity.has_value())) {
      p.step = Step::kReuse;
      p.held = *own;
    } else {
      wanted.push_back(p.name);
    }
    plan.push_back(std::move(p));
  }

  // The queue. The caller's rank: its row's, or now's after every row.
  std::int64_t my_rank = rank_ms(now_ms, request.priority);
  std::int64_t my_seq = std::numeric_limits<std::int64_t>::max();
  if (!own_waiter_id.empty()) {
    for (const QueuedWaiter& q : waiters) {
      if (q.waiter.waiter_id == own_waiter_id) {
        my_rank = q.waiter.rank_ms;
        my_seq = q.seq;
      }
    }
  }
  if (!wanted.empty()) {
    // The live waiters ahead of the caller, in the order they are served.
    std::vector<QueuedWaiter> ahead;
    for (const QueuedWaiter& q : waiters) {
      if (q.waiter.waiter_id == own_waiter_id && !own_waiter_id.empty()) continue;
      if (q.alive_until_ms <= now_ms) continue;
      if (std::tie(q.waiter.rank_ms, q.seq) >= std::tie(my_rank, my_seq)) continue;
      ahead.push_back(q);
    }
    sort_waiters(ahead);
    // A waiter is stuck behind the caller when the caller's own holds stop
    // it, or when an earlier waiter it conflicts with is stuck (it is served
    // after that one, which waits for the caller). Stuck waiters do not keep
    // the caller waiting: that would be a cycle (caller → waiter → caller),
    // broken only by a TTL or a wait running out.
    std::vector<const QueuedWaiter*> stuck;
    std::vector<QueuedWaiter> blockers;
    for (const QueuedWaiter& q : ahead) {
      const bool behind_caller =
          blocked_by_caller(q.waiter, agent, live, counted) ||
          std::any_of(stuck.begin(), stuck.end(), [&](const QueuedWaiter* e) {
            return requests_conflict(e->waiter.names, e->waiter.mode, q.waiter.names,
                                     q.waiter.mode, counted);
          });
      if (behind_caller) {
        stuck.push_back(&q);
        continue;
      }
      if (requests_conflict(q.waiter.names, q.waiter.mode, wanted, request.mode, counted)) {
        blockers.push_back(q);
      }
    }
    if (!blockers.empty()) {
      sort_waiters(blockers);
      d.refusal = LeaseRefusal::kQueued;
      for (QueuedWaiter& q : blockers) d.ahead.push_back(std::move(q.waiter));
      return d;
    }
  }

  bool held = false;
  bool short_of_units = false;
  for (NamePlan& p : plan) {
    if (p.step == Step::kReuse) continue;
    if (p.capacity) {
      const std::int64_t used = lease_rules::used_units(live, p.name);
      if (used + request.units > *p.capacity) {
        short_of_units = true;
        d.counted.push_back(LeaseCapacity{p.name, *p.capacity, used});
        for (const LeaseInfo& l : live) {
          if (l.name == p.name) d.holders.push_back(l);
        }
      }
      continue;
    }
    std::vector<LeaseInfo> in_way = lease_rules::in_the_way(live, agent, p.name, request.mode);
    if (!in_way.empty()) {
      held = true;
      for (LeaseInfo& l : in_way) {
        const bool listed =
            std::any_of(d.holders.begin(), d.holders.end(),
                        [&](const LeaseInfo& h) { return h.lease_id == l.lease_id; });
        if (!listed) d.holders.push_back(std::move(l));
      }
      continue;
    }
    if (request.mode == LeaseMode::kExclusive) {
      for (const LeaseInfo& l : live) {
        if (l.holder == agent && l.name == p.name && l.mode == LeaseMode::kShared) {
          p.step = Step::kUpgrade;
          p.held = l;
          break;
        }
      }
    }
  }
  if (held || short_of_units) {
    d.refusal = held ? LeaseRefusal::kHeld : LeaseRefusal::kCapacity;
    return d;
  }
  d.granted = true;
  d.plan = std::move(plan);
  return d;
}

AcquireResult Grant::result() const {
  AcquireResult out;
  out.granted = true;
  out.leases = leases;
  if (!leases.empty()) out.lease = leases.front();
  out.already_held = already_held;
  out.upgraded = !upgraded.empty();
  return out;
}

Grant grant(const Decision& decision, std::string_view agent, const AcquireRequest& request,
            std::int64_t first_token, std::int64_t now_ms, std::string_view group_id) {
  Grant g;
  std::int64_t token = first_token;
  g.already_held = !decision.plan.empty();
  for (const NamePlan& p : decision.plan) {
    switch (p.step) {
      case Step::kReuse:
        g.leases.push_back(p.held);
        break;
      case Step::kNew: {
        g.already_held = false;
        LeaseInfo lease = lease_rules::new_lease(p.name, agent, request, token++, now_ms);
        lease.group_id = std::string(group_id);
        g.records.push_back(JournalEntry{ops::kAcquire, lease.name,
                                         lease_rules::acquire_payload(lease, request, p.capacity)});
        g.inserted.push_back(lease);
        g.leases.push_back(std::move(lease));
        break;
      }
      case Step::kUpgrade: {
        g.already_held = false;
        LeaseInfo lease = p.held;
        lease.mode = LeaseMode::kExclusive;
        lease.token = token++;
        lease.ttl_ms = request.ttl_ms;
        lease.expires_at_ms = now_ms + request.ttl_ms;
        g.records.push_back(
            JournalEntry{ops::kUpgrade, lease.name, lease_rules::upgrade_payload(lease)});
        g.upgraded.push_back(lease);
        g.leases.push_back(std::move(lease));
        break;
      }
    }
  }
  return g;
}

AcquireResult refusal_result(const Decision& decision) {
  AcquireResult out;
  out.refusal = decision.refusal;
  out.holders = decision.holders;
  out.counted = decision.counted;
  out.ahead = decision.ahead;
  return out;
}

}  // namespace keel::state::lease_queue

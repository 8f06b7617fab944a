// lease_gate.cpp — see lease_gate.h.
#include "hooks/lease_gate.h"

#include <spdlog/spdlog.h>

#include <ctime>
#include <set>
#include <stdexcept>
#include <utility>

#include "hooks/dialect.h"
#include "hooks/release_asks.h"
#include "state/lease_name.h"

namespace keel::hooks {

namespace {

std::string iso_time(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool lease_check_event(const HookEvent& ev) {
  return ev.kind == EventKind::PreToolUse || ev.kind == EventKind::PermissionRequest;
}

// A written path and its lease name.
struct Named {
  std::string path;
  std::string name;
};

// A live hold of someone else in the way of a written path.
struct Blocker {
  std::string path;
  state::LeaseInfo lease;
};

// Every live hold of someone other than `agent` over a written path, each hold once (with the
// first path it covers), in path order.
std::vector<Blocker> blockers(const std::vector<Named>& named, const std::vector<state::LeaseInfo>& leases,
                              const std::string& agent) {
  std::vector<Blocker> out;
  std::set<std::string> seen;
  for (const Named& n : named) {
    for (const state::LeaseInfo& l : leases) {
      if (l.holder == agent || !state::lease_names_overlap(n.name, l.name)) continue;
      if (seen.insert(l.lease_id).second) out.push_back({n.path, l});
    }
  }
  return out;
}

// The first written path a lease name covers (the name itself when none does, which the store
// never answers).
std::string path_of(const std::vector<Named>& named, const std::string& lease_name) {
  for (const Named& n : named) {
    if (state::lease_names_overlap(n.name, lease_name)) return n.path;
  }
  return lease_name;
}

// "a, b, c and 2 more" for up to `max` items.
template <typename T, typename F>
std::string listed(const std::vector<T>& items, std::size_t max, F describe, const char* sep = "; ") {
  std::string out;
  std::size_t n = 0;
  for (const T& item : items) {
    if (n == max) break;
    if (n++) out += sep;
    out += describe(item);
  }
  if (items.size() > n) out += std::string(sep) + "and " + std::to_string(items.size() - n) + " more";
  return out;
}

HookDecision deny(std::string rule, std::string reason) {
  HookDecision d;
  d.outcome = Outcome::Deny;
  d.rule_id = std::move(rule);
  d.reason = std::move(reason);
  return d;
}

HookDecision deny_held(const std::vector<Blocker>& in_the_way) {
  const std::string holds = listed(in_the_way, LeaseGate::kMaxHoldersNamed, [](const Blocker& b) {
    const state::LeaseInfo& l = b.lease;
    return b.path + " is leased by " + l.holder + " until " + iso_time(l.expires_at_ms) + " (" +
           std::string(state::to_string(l.mode)) + " lease " + l.name + ", token " +
           std::to_string(l.token) + ")";
  });
  const bool one = in_the_way.size() == 1;
  return deny("lease:" + in_the_way.front().lease.name,
              holds + ". Work on another file, or wait: lease_acquire the same name" +
                  (one ? "" : "s") + " with wait_ms takes " + (one ? "it" : "them") +
                  " when released (lease_request_release asks the holder).");
}

// An auto_lease acquire that was not granted: why, as a deny (throws for a refusal the gate
// does not expect).
HookDecision deny_refused(const state::AcquireResult& got, const std::vector<Named>& named,
                          const std::vector<std::string>& names) {
  switch (got.refusal) {
    case state::LeaseRefusal::kHeld: {
      if (got.holders.empty()) break;
      std::vector<Blocker> in_the_way;
      for (const state::LeaseInfo& l : got.holders) in_the_way.push_back({path_of(named, l.name), l});
      return deny_held(in_the_way);
    }
    case state::LeaseRefusal::kCapacity: {
      if (got.counted.empty()) break;
      const std::string short_of = listed(got.counted, LeaseGate::kMaxHoldersNamed, [](const state::LeaseCapacity& c) {
        return c.name + " (" + std::to_string(c.used) + " of " + std::to_string(c.capacity) + " units in use)";
      }, ", ");
      std::string holders;
      if (!got.holders.empty()) {
        holders = ", held by " + listed(got.holders, LeaseGate::kMaxHoldersNamed,
                                        [](const state::LeaseInfo& l) { return l.holder; }, ", ");
      }
      return deny("lease:" + got.counted.front().name,
                  "keel could not lease what this call writes: not enough capacity on " + short_of +
                      holders + ". Wait: lease_acquire with wait_ms queues for it.");
    }
    case state::LeaseRefusal::kQueued: {
      if (got.ahead.empty()) break;
      const std::string ahead = listed(got.ahead, LeaseGate::kMaxHoldersNamed, [](const state::LeaseWaiter& w) {
        return w.agent + " (waiting since " + iso_time(w.enqueued_at_ms) + " for " +
               listed(w.names, 4, [](const std::string& s) { return s; }, ", ") + ")";
      });
      // This call's names that a waiter ahead wants (the rule names the first).
      std::vector<std::string> wanted;
      for (const std::string& n : names) {
        bool hit = false;
        for (const state::LeaseWaiter& w : got.ahead) {
          for (const std::string& theirs : w.names) hit = hit || state::lease_names_overlap(n, theirs);
        }
        if (hit) wanted.push_back(n);
      }
      if (wanted.empty()) wanted.push_back(names.front());
      return deny("lease:" + wanted.front(),
                  listed(wanted, 4, [](const std::string& s) { return s; }, ", ") +
                      (wanted.size() == 1 ? " is" : " are") + " free, but queued for first by " + ahead +
                      ". Work on another file, or wait your turn: lease_acquire with wait_ms "
                      "queues you fairly.");
    }
    case state::LeaseRefusal::kNone:
    case state::LeaseRefusal::kReleased:
      break;
  }
  throw std::runtime_error("auto_lease: " + names.front() + (names.size() > 1 ? " and others" : "") +
                           " refused (" + std::string(state::to_string(got.refusal)) + ")");
}

}  // namespace

bool LeaseGate::concerns(const HookEvent& ev) const {
  return lease_check_event(ev) ||
         (!state_dir_.empty() && context_reaches_model(ev.dialect, ev.kind));
}

HookDecision LeaseGate::decide(const PolicyCall& call) const {
  HookDecision d;
  // Nothing to hold a lease against when a gate before refused the call already.
  if (lease_check_event(call.event.event()) && severity(call.so_far.outcome) < severity(Outcome::Deny)) {
    try {
      if (!call.event.written_paths().empty()) d = evaluate(call.store.get(), call.who, call.event);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("could not check leases: ") + e.what());
    }
  }
  add_release_asks(call, d);
  return d;
}

void LeaseGate::add_release_asks(const PolicyCall& call, HookDecision& d) const {
  const HookEvent& ev = call.event.event();
  if (state_dir_.empty() || !context_reaches_model(ev.dialect, ev.kind)) return;
  // A subagent's event (Claude Code's agent_id) shares the agent's principal but not its
  // context: the lease holder is the main agent, which would never read it there.
  if (!ev.agent_id.empty()) return;
  // A refused call: the agent reads the refusal, and the asks wait for the next event.
  if (severity(call.so_far.outcome) >= severity(Outcome::Deny) ||
      severity(d.outcome) >= severity(Outcome::Deny)) {
    return;
  }
  if (!release_asks_pending(state_dir_, call.who)) return;  // the fast path: one stat()
  try {
    std::string text = take_release_ask_context(call.store.get(), call.who);
    if (text.empty()) return;
    if (!d.additional_context.empty()) d.additional_context += "\n";
    d.additional_context += text;
    if (d.rule_id.empty()) d.rule_id = "lease:release-asks";
  } catch (const std::exception& e) {
    spdlog::warn("keel hook: could not read the release asks for {}: {}", call.who.agent, e.what());
  }
}

HookDecision LeaseGate::evaluate(state::Store& store, const state::Principal& who,
                                 const AnalysedEvent& analysed) const {
  HookDecision d;
  const HookEvent& ev = analysed.event();
  if (!lease_check_event(ev)) return d;
  const std::vector<std::string>& paths = analysed.written_paths();
  if (paths.empty()) return d;
  std::vector<Named> named;
  for (const auto& path : paths) {
    try {
      named.push_back({path, state::normalize_lease_name("file:" + path)});
    } catch (const state::StoreError&) {
    }
  }
  std::vector<state::LeaseInfo> live = store.list_leases(who);
  if (!blockers(named, live, who.agent).empty()) {
    // A holder whose process is gone frees its holds now (SCAVENGE), not at their TTL. Then
    // look again: this call, or another keel process since the read above, may have freed
    // what was in the way.
    store.scavenge_dead_agents(who);
    live = store.list_leases(who);
    std::vector<Blocker> in_the_way = blockers(named, live, who.agent);
    if (!in_the_way.empty()) return deny_held(in_the_way);
  }
  if (!options_.auto_lease || ev.kind != EventKind::PreToolUse || named.empty()) return d;

  // auto_lease: hold what is about to be written, every name in one all-or-nothing acquire.
  // The store re-checks under its write lock, so two agents racing for one file cannot both
  // get it, and decides the names in canonical order, so two writers of the same files in
  // opposite orders never hold half each.
  std::vector<std::string> names;
  std::string written;
  for (const Named& n : named) {
    if (names.size() == kMaxAutoLeases) break;
    bool dup = false;
    for (const std::string& have : names) dup = dup || have == n.name;
    if (dup) continue;
    names.push_back(n.name);
    written += (written.empty() ? "" : ", ") + n.path;
  }
  // What `who` held before this call (an earlier auto lease, or one it took itself).
  std::set<std::string> held_before;
  for (const state::LeaseInfo& l : live) {
    if (l.holder == who.agent) held_before.insert(l.lease_id);
  }
  state::AcquireRequest req;
  req.names = names;
  req.mode = state::LeaseMode::kExclusive;
  req.ttl_ms = options_.auto_lease_ttl_ms;
  req.reason = "auto_lease: " + ev.tool_name + " writes " + written;
  const state::AcquireResult got = store.acquire_lease(who, req);
  if (!got.granted) return deny_refused(got, named, names);

  std::string taken;
  for (state::LeaseInfo lease : got.leases) {
    // A short lease already held (an earlier auto lease) is renewed; a longer one the agent
    // took itself is left as it is; a new one stands as granted.
    if (held_before.count(lease.lease_id) && lease.ttl_ms <= options_.auto_lease_ttl_ms) {
      lease = store.renew_lease(who, lease.name, lease.lease_id);
    }
    taken += (taken.empty() ? "" : ", ") + lease.name + " until " + iso_time(lease.expires_at_ms);
  }
  d.rule_id = "lease:auto";
  d.reason = "keel holds for " + who.agent + ": " + taken;
  return d;
}

}  // namespace keel::hooks

#include "hooks/lease_gate.h"

#include <ctime>
#include <optional>
#include <stdexcept>

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

}  // namespace

bool LeaseGate::concerns(const HookEvent& ev) const {
  return ev.kind == EventKind::PreToolUse || ev.kind == EventKind::PermissionRequest;
}

HookDecision LeaseGate::decide(const PolicyCall& call) const {
  // Nothing to hold a lease against when a gate before refused the call already.
  if (severity(call.so_far.outcome) >= severity(Outcome::Deny)) return {};
  try {
    if (call.event.written_paths().empty()) return {};
    return evaluate(call.store.get(), call.who, call.event);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("could not check leases: ") + e.what());
  }
}

HookDecision LeaseGate::evaluate(state::Store& store, const state::Principal& who,
                                 const AnalysedEvent& analysed) const {
  HookDecision d;
  const HookEvent& ev = analysed.event();
  if (!concerns(ev)) return d;
  const std::vector<std::string>& paths = analysed.written_paths();
  if (paths.empty()) return d;
  auto deny = [&](const std::string& path, const state::LeaseInfo& l) {
    d.outcome = Outcome::Deny;
    d.rule_id = "lease:" + l.name;
    d.reason = path + " is leased by " + l.holder + " until " + iso_time(l.expires_at_ms) +
               " (" + std::string(state::to_string(l.mode)) + " lease " + l.name + ", token " +
               std::to_string(l.token) +
               "). Work on another file, or wait: lease_acquire the same name with wait_ms "
               "takes it when it is released.";
    return d;
  };
  std::vector<std::pair<std::string, std::string>> named;  // (path, lease name)
  for (const auto& path : paths) {
    try {
      named.emplace_back(path, state::normalize_lease_name("file:" + path));
    } catch (const state::StoreError&) {
    }
  }
  // The first live hold of someone else over a written path, if any.
  auto first_conflict = [&](const std::vector<state::LeaseInfo>& leases)
      -> std::optional<std::pair<std::string, state::LeaseInfo>> {
    for (const auto& [path, name] : named) {
      for (const auto& l : leases) {
        if (l.holder != who.agent && state::lease_names_overlap(name, l.name)) {
          return std::make_pair(path, l);
        }
      }
    }
    return std::nullopt;
  };
  auto conflict = first_conflict(store.list_leases(who));
  if (conflict) {
    // A holder whose process is gone frees its holds now (SCAVENGE), not at their TTL. Then
    // look again: this call, or another keel process since the read above, may have freed
    // what was in the way.
    store.scavenge_dead_agents(who);
    conflict = first_conflict(store.list_leases(who));
    if (conflict) return deny(conflict->first, conflict->second);
  }
  if (!options_.auto_lease || ev.kind != EventKind::PreToolUse || named.empty()) return d;

  // auto_lease: hold what is about to be written. acquire_lease re-checks under the store's
  // write lock, so two agents racing for one file cannot both get it.
  std::string taken;
  std::size_t count = 0;
  for (const auto& [path, name] : named) {
    if (count++ == kMaxAutoLeases) break;
    state::AcquireRequest req;
    req.name = name;
    req.mode = state::LeaseMode::kExclusive;
    req.ttl_ms = options_.auto_lease_ttl_ms;
    req.reason = "auto_lease: " + ev.tool_name + " writes " + path;
    state::AcquireResult got = store.acquire_lease(who, req);
    if (!got.granted) {
      if (!got.holders.empty()) return deny(path, got.holders.front());
      throw std::runtime_error("auto_lease: " + name + " was refused");
    }
    state::LeaseInfo lease = *got.lease;
    // A short lease already held (an earlier auto lease) is renewed; a longer one the agent
    // took itself is left as it is.
    if (got.already_held && lease.ttl_ms <= options_.auto_lease_ttl_ms) {
      lease = store.renew_lease(who, lease.name, lease.lease_id);
    }
    taken += (taken.empty() ? "" : ", ") + lease.name + " until " + iso_time(lease.expires_at_ms);
  }
  d.rule_id = "lease:auto";
  d.reason = "keel holds for " + who.agent + ": " + taken;
  return d;
}

}  // namespace keel::hooks

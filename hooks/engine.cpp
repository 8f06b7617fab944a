// engine.cpp — see engine.h.
#include "hooks/engine.h"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <thread>

#include "hooks/approvals.h"
#include "hooks/decision_journal.h"
#include "hooks/failure_hint.h"
#include "hooks/oracle.h"
#include "hooks/policy_state.h"
#include "hooks/stale_read.h"

namespace keel::hooks {

namespace json = boost::json;

namespace {

// Compare-and-set rounds before a hook gives up on the session state. Hooks of
// one session rarely run at once; when they do, a jittered backoff between
// rounds lets every contender through (4 threads x 5 updates under ASan
// exhausted 8 rounds without one).
constexpr int kStateAttempts = 32;

bool says_something(const HookDecision& d) {
  return d.outcome != Outcome::Continue || !d.continue_ || !d.system_message.empty() ||
         !d.additional_context.empty() || !d.rule_id.empty();
}

void join(std::string& acc, const std::string& add) {
  if (add.empty()) return;
  if (!acc.empty()) acc += "\n";
  acc += add;
}

// Does this event begin a turn? UserPromptSubmit does; so does a turn_id (Codex, Cursor's
// generation) other than the one the state remembers.
bool starts_turn(const HookEvent& ev, json::object& state, bool& changed) {
  bool fresh = ev.kind == EventKind::UserPromptSubmit;
  if (!ev.turn_id.empty() && get_string(state, "turn_id") != ev.turn_id) {
    fresh = fresh || state.contains("turn_id");
    state["turn_id"] = ev.turn_id;
    changed = true;
  }
  if (fresh) {
    state["turn"] = get_int(state, "turn") + 1;
    changed = true;
  }
  return fresh;
}

// Adds one policy's verdict or failure to the result.
class Recorder {
 public:
  Recorder(const HookEvent& ev, EngineResult& out) : ev_(ev), out_(out) {}
  void verdict(std::string_view policy, const HookDecision& d) {
    if (says_something(d)) out_.verdicts.push_back({std::string(policy), d});
    combine(out_.decision, d);
  }
  // A policy that could not decide: its fail mode decides (engine.h).
  void failure(std::string_view policy, bool fail_closed, const std::string& what) {
    const std::string name(policy);
    out_.errors.push_back(name + ": " + what);
    HookDecision d = fail_closed ? fail_closed_decision(ev_, name, what) : HookDecision{};
    if (!fail_closed) d.rule_id = name + ":error";
    verdict(policy, d);
  }

 private:
  const HookEvent& ev_;
  EngineResult& out_;
};

}  // namespace

void combine(HookDecision& acc, const HookDecision& add) {
  std::string system = acc.system_message;
  std::string context = acc.additional_context;
  join(system, add.system_message);
  join(context, add.additional_context);
  const bool keep_stop = !acc.continue_;
  const std::string stop_reason = acc.stop_reason;
  if (severity(add.outcome) > severity(acc.outcome)) {
    acc.outcome = add.outcome;
    acc.reason = add.reason;
    acc.rule_id = add.rule_id;
    acc.updated_input = add.updated_input;
  } else if (acc.rule_id.empty() && acc.outcome == add.outcome) {
    acc.rule_id = add.rule_id;
  }
  acc.system_message = std::move(system);
  acc.additional_context = std::move(context);
  if (keep_stop) {
    acc.stop_reason = stop_reason;
  } else if (!add.continue_) {
    acc.continue_ = false;
    acc.stop_reason = add.stop_reason.empty() ? add.reason : add.stop_reason;
    if (acc.outcome == Outcome::Continue) acc.rule_id = add.rule_id;
  }
}

HookDecision fail_closed_decision(const HookEvent& ev, const std::string& policy,
                                  const std::string& what) {
  HookDecision d;
  d.rule_id = policy + ":error";
  d.reason = "keel " + policy + " could not decide (" + what +
             "); it fails closed (hooks." + policy + ".fail_closed in keel.jsonc)";
  switch (ev.kind) {
    case EventKind::PreToolUse:
    case EventKind::PermissionRequest:
    case EventKind::UserPromptSubmit:
      d.outcome = Outcome::Deny;
      break;
    case EventKind::Stop:
    case EventKind::SubagentStop:
      // Without its state a policy cannot count its blocks: it blocks a stop once, and lets
      // the agent stop when it is already continuing because of a stop hook, so that an
      // unavailable store never keeps an agent going forever.
      if (continuing_after_stop_hook(ev)) {
        d.system_message = d.reason + "; the stop was already blocked once, letting the agent stop";
        d.reason.clear();
      } else {
        d.outcome = Outcome::BlockStop;
      }
      break;
    default:
      break;  // nothing to block
  }
  return d;
}

HookEngine::HookEngine(HooksConfig config, GateConfig gate, std::string default_cwd,
                       std::filesystem::path hint_dir)
    : config_(std::move(config)),
      gate_(std::move(gate)),
      lease_({config_.lease_auto, config_.lease_auto_ttl_ms},
             hint_dir.empty() ? std::filesystem::path() : hint_dir.parent_path()),
      budget_(config_.budget),
      guardrail_(config_.guardrail),
      oracle_(config_.oracle, std::move(default_cwd)),
      self_check_(config_.self_check),
      hint_dir_(std::move(hint_dir)) {}

std::array<HookEngine::Slot, 6> HookEngine::policies() const {
  return {{{&gate_, config_.permission_fail_closed},
           {&lease_, config_.lease_fail_closed},
           {&budget_, config_.budget.fail_closed},
           {&guardrail_, config_.guardrail.fail_closed},
           {&oracle_, config_.oracle.fail_closed},
           {&self_check_, config_.self_check.fail_closed}}};
}

EngineResult HookEngine::decide(const AnalysedEvent& in, const state::Principal& who,
                                const StoreOpener& open_store) const {
  const HookEvent& ev = in.event();
  EngineResult out;
  LazyStore store(open_store);
  Recorder record(ev, out);

  // 1. The gates, each on what the ones before decided.
  for (const Slot& slot : policies()) {
    const Policy& p = *slot.policy;
    if (p.keeps_session_state() || !p.concerns(ev)) continue;
    try {
      record.verdict(p.name(), p.decide(PolicyCall{in, who, store, out.decision}));
    } catch (const std::exception& e) {
      record.failure(p.name(), slot.fail_closed, e.what());
    }
  }

  stale_reads(in, who, store, out);
  approvals(in, who, store, out);

  // 2. The session policies on the session's shared state.
  decide_session(in, who, store, out);

  // 3. Journal: always when the store is open anyway (or journal_all), else only decisions
  // worth keeping.
  if (store.opened() || says_something(out.decision) || config_.journal_all) {
    try {
      store.get().journal_append(who, "HOOK", ev.tool_name.empty() ? ev.event_name : ev.tool_name,
                                 decision_journal_payload(ev, out.decision, out.verdicts, out.errors));
      out.journaled = true;
    } catch (const std::exception& e) {
      out.errors.push_back(std::string("journal: could not record the decision: ") + e.what());
    }
  }
  return out;
}

void HookEngine::stale_reads(const AnalysedEvent& in, const state::Principal& who, LazyStore& store,
                             EngineResult& out) const {
  if (!config_.lease_stale_read) return;
  const HookEvent& ev = in.event();
  try {
    if (ev.kind == EventKind::PreToolUse) {
      if (severity(out.decision.outcome) >= severity(Outcome::Deny) || in.written_paths().empty()) return;
      HookDecision d = check_stale(store.get(), who, in);
      if (d.outcome == Outcome::Continue) return;
      out.verdicts.push_back({"lease", d});
      combine(out.decision, d);
    } else if (ev.kind == EventKind::PostToolUse && !ev.file_paths.empty()) {
      record_seen(store.get(), who, ev);
    }
  } catch (const std::exception& e) {
    out.errors.push_back(std::string("stale_read: ") + e.what());  // advisory: fails open
  }
}

void HookEngine::approvals(const AnalysedEvent& in, const state::Principal& who, LazyStore& store,
                           EngineResult& out) const {
  const HookEvent& ev = in.event();
  if (!gate_.config().remember_approvals) return;
  const bool ask = ev.kind == EventKind::PreToolUse && out.decision.outcome == Outcome::Ask;
  const bool post = ev.kind == EventKind::PostToolUse && !ev.tool_failed;
  if (!ask && !post) return;
  const std::optional<ApprovalKey> k = approval_key(ev);
  if (!k) return;
  try {
    if (ask) {
      if (!approved_or_pending(store.get(), who, ev, *k)) return;
      HookDecision d;
      d.outcome = Outcome::Allow;
      d.rule_id = "approval:remembered";
      d.reason = "keel: `" + k->command.substr(0, 160) +
                 "` was approved earlier in this session, here; not asking again "
                 "(permission.remember_approvals)";
      out.decision.outcome = d.outcome;
      out.decision.rule_id = d.rule_id;
      out.decision.reason = d.reason;
      out.verdicts.push_back({"approvals", d});
    } else if (remember_if_pending(store.get(), who, ev, *k)) {
      HookDecision d;
      d.rule_id = "approval:remembered";
      out.verdicts.push_back({"approvals", d});
    }
  } catch (const std::exception& e) {
    // The ask stands; nothing is remembered.
    out.errors.push_back(std::string("approvals: ") + e.what());
  }
}

void HookEngine::decide_session(const AnalysedEvent& in, const state::Principal& who,
                                LazyStore& store, EngineResult& out) const {
  const HookEvent& ev = in.event();
  if (ev.session_id.empty()) return;
  const std::array<Slot, 6> slots = policies();
  bool any_concerned = false;
  bool all_idle = true;  // every concerned policy is idle while the session has no failure
  bool any_enabled = false;
  for (const Slot& slot : slots) {
    const Policy& p = *slot.policy;
    if (!p.keeps_session_state()) continue;
    any_enabled = any_enabled || p.enabled();
    if (!p.concerns(ev)) continue;
    any_concerned = true;
    all_idle = all_idle && p.idle_without_failures(ev);
  }
  Recorder record(ev, out);
  const FailureHint hint(hint_dir_, who.project, ev.session_id);
  if (ev.kind == EventKind::SessionEnd && any_enabled) {
    try {
      const FailureHint::WriterLock lock(hint);
      SessionStateStore(store.get(), who.project, ev.session_id).erase();
      hint.erase(lock);
    } catch (const std::exception& e) {
      out.errors.push_back(std::string("state: could not drop the session's state: ") + e.what());
    }
    return;
  }
  if (!any_concerned) return;
  // No failure on record for this session: nothing to deny, and the store stays closed (the
  // common PreToolUse).
  if (all_idle && !hint_dir_.empty() && !hint.may_have_failures()) return;

  SessionVerdicts verdicts;
  try {
    run_session_rounds(in, who, store, hint, verdicts);
  } catch (const std::exception& e) {
    // The state could not be read or written: every policy that needed it could not decide.
    verdicts = {};
    const std::string what = std::string("session state unavailable: ") + e.what();
    for (std::size_t i = 0; i < slots.size(); ++i) {
      const Policy& p = *slots[i].policy;
      if (p.keeps_session_state() && p.concerns(ev)) verdicts.failed.emplace_back(i, what);
    }
  }
  for (const auto& [i, d] : verdicts.decided) record.verdict(slots[i].policy->name(), d);
  for (const auto& [i, what] : verdicts.failed) {
    record.failure(slots[i].policy->name(), slots[i].fail_closed, what);
  }
}

void HookEngine::run_session_rounds(const AnalysedEvent& in, const state::Principal& who,
                                    LazyStore& store, const FailureHint& hint,
                                    SessionVerdicts& out) const {
  const HookEvent& ev = in.event();
  const std::array<Slot, 6> slots = policies();
  std::optional<CheckResult> check_memo;
  std::array<std::optional<std::string>, 6> standing_errors;  // not retried (by slot)
  // Held until the hint matches what was saved (failure_hint.h); no-op without a hint_dir.
  const FailureHint::WriterLock hint_lock(hint);
  SessionStateStore states(store.get(), who.project, ev.session_id);
  for (int attempt = 0; attempt < kStateAttempts; ++attempt) {
    if (attempt > 0) {
      thread_local std::minstd_rand jitter(std::random_device{}());
      const int cap_us = 100 << std::min(attempt, 6);  // 200 us .. 6.4 ms
      std::this_thread::sleep_for(std::chrono::microseconds(jitter() % cap_us));
    }
    out = {};
    SessionStateStore::Snapshot snap = states.load();
    bool changed = false;
    const bool new_turn = starts_turn(ev, snap.value, changed);
    SessionRound round{snap.value, changed, new_turn, check_memo};
    const HookDecision none{};
    for (std::size_t i = 0; i < slots.size(); ++i) {
      const Policy& p = *slots[i].policy;
      if (!p.keeps_session_state()) continue;
      if (standing_errors[i]) {
        out.failed.emplace_back(i, *standing_errors[i]);
        continue;
      }
      try {
        HookDecision d = p.decide(PolicyCall{in, who, store, none, &round});
        round.stop_blocked = round.stop_blocked || d.outcome == Outcome::BlockStop;
        out.decided.emplace_back(i, std::move(d));
      } catch (const std::exception& e) {
        if (!p.retries_after_error()) standing_errors[i] = e.what();
        out.failed.emplace_back(i, e.what());
      }
    }
    if (!changed || states.save(snap.value, snap.version)) {
      hint.update(hint_lock, snap.value);
      return;
    }
  }
  throw std::runtime_error("the session state kept changing under this hook");
}

}  // namespace keel::hooks

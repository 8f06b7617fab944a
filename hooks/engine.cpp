// engine.cpp — see engine.h.
#include "hooks/engine.h"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>
#include <thread>
#include <optional>

#include "hooks/failure_hint.h"
#include "hooks/lease_gate.h"
#include "hooks/policy_state.h"

namespace keel::hooks {

namespace json = boost::json;

namespace {

// Compare-and-set rounds before a hook gives up on the session state. Hooks of
// one session rarely run at once; when they do, a jittered backoff between
// rounds lets every contender through (4 threads x 5 updates under ASan
// exhausted 8 rounds without one).
constexpr int kStateAttempts = 32;

bool is_tool_gate_event(EventKind k) { return k == EventKind::PreToolUse || k == EventKind::PermissionRequest; }

bool says_something(const HookDecision& d) {
  return d.outcome != Outcome::Continue || !d.continue_ || !d.system_message.empty() ||
         !d.additional_context.empty() || !d.rule_id.empty();
}

void join(std::string& acc, const std::string& add) {
  if (add.empty()) return;
  if (!acc.empty()) acc += "\n";
  acc += add;
}

// The store, opened on first use.
class LazyStore {
 public:
  explicit LazyStore(const StoreOpener& open) : open_(open) {}
  state::Store& get() {
    if (!store_) store_ = &open_();
    return *store_;
  }
  bool opened() const { return store_ != nullptr; }

 private:
  const StoreOpener& open_;
  state::Store* store_ = nullptr;
};

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
      d.outcome = Outcome::BlockStop;
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
      budget_(config_.budget),
      guardrail_(config_.guardrail),
      oracle_(config_.oracle, std::move(default_cwd)),
      self_check_(config_.self_check),
      hint_dir_(std::move(hint_dir)) {}

EngineResult HookEngine::decide(const HookEvent& ev, const state::Principal& who,
                                const StoreOpener& open_store) const {
  EngineResult out;
  LazyStore store(open_store);
  auto record = [&](const char* policy, const HookDecision& d) {
    if (says_something(d)) out.verdicts.push_back({policy, d});
    combine(out.decision, d);
  };
  auto failed = [&](const char* policy, bool fail_closed, const std::string& what) {
    out.errors.push_back(std::string(policy) + ": " + what);
    HookDecision d = fail_closed ? fail_closed_decision(ev, policy, what) : HookDecision{};
    if (!fail_closed) d.rule_id = std::string(policy) + ":error";
    record(policy, d);
  };

  // 1. Permission gate (pure).
  try {
    record("permission", gate_.evaluate(ev));
  } catch (const std::exception& e) {
    failed("permission", config_.permission_fail_closed, e.what());
  }

  // 2. Lease gate: only when the call writes somewhere and nothing refused it already.
  if (is_tool_gate_event(ev.kind) && severity(out.decision.outcome) < severity(Outcome::Deny)) {
    try {
      if (!written_paths(ev).empty()) record("lease", LeaseGate({config_.lease_auto, config_.lease_auto_ttl_ms})
                             .evaluate(store.get(), who, ev));
    } catch (const std::exception& e) {
      failed("lease", config_.lease_fail_closed, std::string("could not check leases: ") + e.what());
    }
  }

  // 3. Stateful policies on the session's shared state.
  const bool any_state = budget_.concerns(ev) || guardrail_.concerns(ev) || oracle_.concerns(ev) ||
                         self_check_.concerns(ev);
  const FailureHint hint(hint_dir_, who.project, ev.session_id);
  const bool only_guardrail_asks = ev.kind == EventKind::PreToolUse && !budget_.concerns(ev) &&
                                   !oracle_.concerns(ev) && !self_check_.concerns(ev);
  if (ev.kind == EventKind::SessionEnd && !ev.session_id.empty() &&
      (config_.budget.enabled() || config_.guardrail.enabled || !config_.oracle.command.empty() ||
       config_.self_check.enabled)) {
    try {
      const FailureHint::WriterLock lock(hint);
      SessionStateStore(store.get(), who.project, ev.session_id).erase();
      hint.erase(lock);
    } catch (const std::exception& e) {
      out.errors.push_back(std::string("state: could not drop the session's state: ") + e.what());
    }
  } else if (any_state && !ev.session_id.empty() && only_guardrail_asks &&
             !hint_dir_.empty() && !hint.may_have_failures()) {
    // No failure on record for this session: the guardrail has nothing to deny, and the
    // store stays closed (the common PreToolUse).
  } else if (any_state && !ev.session_id.empty()) {
    std::optional<CheckResult> oracle_memo;
    std::optional<std::string> oracle_error;
    std::vector<std::pair<const char*, HookDecision>> decided;
    std::vector<std::pair<const char*, std::string>> policy_errors;
    try {
      // Held until the hint matches what was saved (failure_hint.h); no-op without a hint_dir.
      const FailureHint::WriterLock hint_lock(hint);
      SessionStateStore states(store.get(), who.project, ev.session_id);
      std::optional<json::object> final_state;
      bool saved = false;
      for (int attempt = 0; attempt < kStateAttempts && !saved; ++attempt) {
        if (attempt > 0) {
          thread_local std::minstd_rand jitter(std::random_device{}());
          const int cap_us = 100 << std::min(attempt, 6);  // 200 us .. 6.4 ms
          std::this_thread::sleep_for(std::chrono::microseconds(jitter() % cap_us));
        }
        decided.clear();
        policy_errors.clear();
        SessionStateStore::Snapshot snap = states.load();
        bool changed = false;
        PolicyInput in{ev, starts_turn(ev, snap.value, changed)};
        auto run = [&](const char* name, auto&& fn) {
          try {
            decided.emplace_back(name, fn());
          } catch (const std::exception& e) {
            policy_errors.emplace_back(name, e.what());
          }
        };
        run("budget", [&] { return budget_.evaluate(in, snap.value, changed); });
        run("guardrail", [&] { return guardrail_.evaluate(in, snap.value, changed); });
        bool oracle_blocked = false;
        if (oracle_error) {
          policy_errors.emplace_back("oracle", *oracle_error);
        } else {
          try {
            HookDecision d = oracle_.evaluate(in, snap.value, changed, oracle_memo);
            oracle_blocked = d.outcome == Outcome::BlockStop;
            decided.emplace_back("oracle", std::move(d));
          } catch (const std::exception& e) {
            oracle_error = e.what();  // not retried: the command could not start
            policy_errors.emplace_back("oracle", e.what());
          }
        }
        if (!oracle_blocked) {
          run("self_check", [&] { return self_check_.evaluate(in, snap.value, changed); });
        }
        saved = !changed || states.save(snap.value, snap.version);
        if (saved) final_state = std::move(snap.value);
      }
      if (!saved) throw std::runtime_error("the session state kept changing under this hook");
      hint.update(hint_lock, *final_state);
    } catch (const std::exception& e) {
      // The state could not be read or written: every policy that needed it could not decide.
      decided.clear();
      policy_errors.clear();
      const std::string what = std::string("session state unavailable: ") + e.what();
      if (budget_.concerns(ev)) policy_errors.emplace_back("budget", what);
      if (guardrail_.concerns(ev)) policy_errors.emplace_back("guardrail", what);
      if (oracle_.concerns(ev)) policy_errors.emplace_back("oracle", what);
      if (self_check_.concerns(ev)) policy_errors.emplace_back("self_check", what);
    }
    for (const auto& [name, d] : decided) record(name, d);
    for (const auto& [name, what] : policy_errors) {
      const std::string_view n(name);
      const bool closed = n == "budget"      ? config_.budget.fail_closed
                          : n == "guardrail" ? config_.guardrail.fail_closed
                          : n == "oracle"    ? config_.oracle.fail_closed
                                             : config_.self_check.fail_closed;
      failed(name, closed, what);
    }
  }

  // 4. Journal: always when the store is open anyway (or journal_all), else only decisions
  // worth keeping.
  const HookDecision& d = out.decision;
  if (store.opened() || says_something(d) || config_.journal_all) {
    try {
      json::object payload{{"dialect", ev.dialect},
                           {"event", ev.event_name},
                           {"session_id", ev.session_id},
                           {"outcome", to_string(d.outcome)}};
      if (!ev.agent_id.empty()) payload["agent_id"] = ev.agent_id;
      if (!d.rule_id.empty()) payload["rule"] = d.rule_id;
      if (!d.reason.empty()) payload["reason"] = d.reason.substr(0, 1000);
      if (!d.continue_) payload["continue"] = false;
      if (!d.stop_reason.empty()) payload["stop_reason"] = d.stop_reason.substr(0, 1000);
      if (!d.system_message.empty()) payload["system_message"] = d.system_message.substr(0, 1000);
      if (!ev.tool_name.empty()) payload["tool"] = ev.tool_name;
      if (!ev.command.empty()) payload["command"] = ev.command.substr(0, 1000);
      if (!ev.file_paths.empty()) {
        json::array paths;
        for (const auto& p : ev.file_paths) paths.emplace_back(p);
        payload["paths"] = std::move(paths);
      }
      if (!out.verdicts.empty()) {
        json::array policies;
        for (const auto& v : out.verdicts) {
          json::object p{{"policy", v.policy}, {"outcome", to_string(v.decision.outcome)}};
          if (!v.decision.rule_id.empty()) p["rule"] = v.decision.rule_id;
          if (!v.decision.continue_) p["continue"] = false;
          policies.emplace_back(std::move(p));
        }
        payload["policies"] = std::move(policies);
      }
      if (!out.errors.empty()) {
        json::array errors;
        for (const auto& e : out.errors) errors.emplace_back(e.substr(0, 500));
        payload["errors"] = std::move(errors);
      }
      store.get().journal_append(who, "HOOK", ev.tool_name.empty() ? ev.event_name : ev.tool_name,
                                 payload);
      out.journaled = true;
    } catch (const std::exception& e) {
      out.errors.push_back(std::string("journal: could not record the decision: ") + e.what());
    }
  }
  return out;
}

}  // namespace keel::hooks

// oracle.cpp — see oracle.h.
#include "hooks/oracle.h"

namespace keel::hooks {

namespace json = boost::json;

bool continuing_after_stop_hook(const HookEvent& ev) { return ev.stop_hook_active || ev.loop_count > 0; }

bool Oracle::concerns(const HookEvent& ev) const {
  if (cfg_.command.empty()) return false;
  return ev.kind == EventKind::Stop || (cfg_.subagents && ev.kind == EventKind::SubagentStop) ||
         ev.kind == EventKind::UserPromptSubmit;
}

HookDecision Oracle::decide(const PolicyCall& call) const {
  SessionRound& s = session_of(call);
  return evaluate(policy_input(call), s.state, s.changed, s.check_memo);
}

HookDecision Oracle::evaluate(const PolicyInput& in, json::object& state, bool& changed,
                              std::optional<CheckResult>& memo) const {
  HookDecision d;
  const HookEvent& ev = in.ev;
  if (!concerns(ev) || reset_on_new_turn(in, state, "oracle", changed)) return d;

  json::object& a = agent_section(state, "oracle", ev);
  changed = true;
  std::int64_t blocks = continuing_after_stop_hook(ev) ? get_int(a, "blocks") : 0;
  if (blocks >= cfg_.max_blocks) {
    a["blocks"] = 0;
    d.rule_id = "oracle:cap";
    d.system_message = "keel oracle: `" + cfg_.command + "` still fails after " +
                       std::to_string(blocks) +
                       " attempts; letting the agent stop (hooks.oracle.max_blocks)";
    return d;
  }
  if (!memo) {
    try {
      memo = run_check(cfg_.command, ev.cwd.empty() ? default_cwd_ : ev.cwd,
                       std::chrono::milliseconds(cfg_.timeout_ms));
    } catch (const std::exception& e) {
      // A check that cannot start has not passed. Failing open is the old behaviour: the
      // engine's failure path (no opinion, oracle:error).
      if (!cfg_.fail_closed) throw;
      CheckResult cannot;
      cannot.start_error = e.what();
      memo = std::move(cannot);
    }
  }
  const CheckResult& r = *memo;
  if (r.passed()) {
    a["blocks"] = 0;
    return d;
  }
  a["blocks"] = blocks + 1;
  d.outcome = Outcome::BlockStop;
  const std::string attempt = " (attempt " + std::to_string(blocks + 1) + " of " + std::to_string(cfg_.max_blocks) + ")";
  if (!r.start_error.empty() || r.exit_code == 126 || r.exit_code == 127) {
    // Could not even start: no directory, no shell, command not found or not executable.
    d.rule_id = "oracle:cannot-run";
    std::string why = !r.start_error.empty() ? r.start_error
                      : r.exit_code == 127   ? "exit code 127: command not found"
                                             : "exit code 126: not executable";
    std::string tail = output_tail(r.output, cfg_.tail_lines, cfg_.tail_bytes);
    d.reason = "keel oracle: the check `" + cfg_.command + "` could not run (" + why +
               "). A check that cannot run has not passed: make it runnable (its directory, the command, "
               "hooks.oracle.command in keel.jsonc) or fix what it needs before finishing" + attempt + "." +
               (tail.empty() ? std::string() : "\n" + tail);
    return d;
  }
  std::string status;
  if (r.timed_out) {
    d.rule_id = "oracle:timeout";
    status = "did not finish within " + std::to_string(cfg_.timeout_ms) + " ms";
  } else {
    d.rule_id = "oracle:failed";
    status = r.signal ? "was killed by signal " + std::to_string(r.signal)
                      : "failed with exit code " + std::to_string(r.exit_code);
  }
  std::string tail = output_tail(r.output, cfg_.tail_lines, cfg_.tail_bytes);
  d.reason = "keel oracle: the check `" + cfg_.command + "` " + status +
             ". Fix what it reports before finishing" + attempt + "." +
             (tail.empty() ? std::string(" It printed nothing.") : "\n" + tail);
  return d;
}

}  // namespace keel::hooks

// pipeline.cpp — see pipeline.h.
#include "hooks/pipeline.h"

namespace keel::hooks {

HookAnswer unreadable_answer(const Dialect& dialect, std::string_view error, bool fail_closed) {
  HookAnswer answer;
  answer.input_error = std::string(error);
  if (fail_closed) answer.rendered = dialect.render_unreadable(error);
  return answer;
}

HookAnswer run_hook_pipeline(const Dialect& dialect, std::string_view input, HookHost& host) {
  HookEvent ev;
  try {
    ev = dialect.parse(input);
  } catch (const HookInputError& e) {
    return unreadable_answer(dialect, e.what(), host.unreadable_fails_closed());
  }
  HookAnswer answer;
  answer.event_name = ev.event_name;
  if (std::optional<HookDecision> early = host.prepare(ev)) {
    answer.rendered = dialect.render(ev, *early);
    return answer;
  }
  const StoreOpener open_store = [&host]() -> state::Store& { return host.open_store(); };
  EngineResult result = host.engine().decide(AnalysedEvent(ev), host.principal(), open_store);
  answer.errors = std::move(result.errors);
  answer.rendered = dialect.render(ev, result.decision);
  return answer;
}

}  // namespace keel::hooks

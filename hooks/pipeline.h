// pipeline.h — the one hook pipeline behind `keel hook` (cli/hook_command.cpp) and
// POST /hooks/<dialect> (http_hooks.h): the agent's JSON → the dialect's HookEvent (parsed
// once) → an AnalysedEvent (the shell command parsed once, the written paths computed once) →
// every policy (engine.h) → the decision in the agent's own convention.
//
// Contract:
// - run_hook_pipeline parses `input` with `dialect`. Input the dialect cannot read
//   (HookInputError, dialect.h) sets HookAnswer::input_error and is answered with the
//   dialect's render_unreadable() when host.unreadable_fails_closed() (the permission gate's
//   fail mode, which concerns every tool call); otherwise `rendered` stays empty and the caller
//   lets the call through in its own way (exit 0, HTTP 400).
// - A readable event goes to host.prepare() once. It sets up what the event is decided with
//   (the engine, the principal, the store: a hook resolves its workspace from the event's cwd)
//   or decides the event itself (a suspended agent); then the engine decides the analysed event
//   and the dialect renders the decision. Policy failures are in HookAnswer::errors.
// - Adds nothing of its own to the answer: same JSON, exit codes and reasons as the dialect's.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hooks/dialect.h"
#include "hooks/engine.h"
#include "hooks/hook_event.h"
#include "state/store.h"

namespace keel::hooks {

// What differs between the hook's callers.
class HookHost {
 public:
  virtual ~HookHost() = default;
  virtual bool unreadable_fails_closed() const = 0;
  // Called once per readable event before engine(), principal() and open_store(): a decision
  // to render as it is (the engine is then not asked), or nullopt.
  virtual std::optional<HookDecision> prepare(const HookEvent& ev) = 0;
  virtual const HookEngine& engine() const = 0;
  virtual const state::Principal& principal() const = 0;
  virtual state::Store& open_store() = 0;
};

struct HookAnswer {
  RenderResult rendered;                   // what the agent gets
  std::optional<std::string> input_error;  // the input was unreadable (HookInputError)
  std::string event_name;                  // as the agent spelt it (empty when unreadable)
  std::vector<std::string> errors;         // "<policy>: <what failed>"
};

HookAnswer run_hook_pipeline(const Dialect& dialect, std::string_view input, HookHost& host);

// The answer to input that could not be read at all (`error`): render_unreadable() when
// `fail_closed`, else nothing rendered.
HookAnswer unreadable_answer(const Dialect& dialect, std::string_view error, bool fail_closed);

}  // namespace keel::hooks

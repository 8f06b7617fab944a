// http_hooks.cpp — see http_hooks.h.
#include "hooks/http_hooks.h"

#include <boost/json.hpp>

#include "hooks/dialect.h"

namespace keel::hooks {

namespace json = boost::json;

namespace {
HttpHookReply error_reply(unsigned status, const std::string& message) {
  HttpHookReply r;
  r.status = status;
  r.body = json::serialize(json::object{{"error", message}});
  return r;
}
}  // namespace

HttpHookReply answer_http_hook(const HookEngine& engine, std::string_view method,
                               std::string_view dialect_name, std::string_view body,
                               const PrincipalFor& principal_for, state::Store& store) {
  std::unique_ptr<Dialect> dialect = make_dialect(dialect_name);
  if (!dialect) {
    return error_reply(404, "unknown hook dialect '" + std::string(dialect_name) +
                                "' (claude, codex, gemini, cursor, copilot, windsurf, cline)");
  }
  if (method != "POST") return error_reply(405, "POST the hook event as JSON");
  HookEvent ev;
  try {
    if (body.size() > kMaxHookInput) throw HookInputError("hook input exceeds 8 MiB");
    ev = dialect->parse(body);
  } catch (const HookInputError& e) {
    return error_reply(400, std::string("unreadable hook input: ") + e.what());
  }
  const state::Principal who = principal_for(ev);
  EngineResult result = engine.decide(ev, who, [&store]() -> state::Store& { return store; });
  RenderResult r = dialect->render(ev, result.decision);
  HttpHookReply reply;
  for (auto& e : result.errors) reply.errors.push_back(ev.event_name + ": " + e);
  if (r.exit_code == 2 && r.stdout_text.empty()) {
    reply.body = json::serialize(json::object{{"decision", "block"}, {"reason", r.stderr_text}});
  } else {
    reply.body = std::move(r.stdout_text);
  }
  return reply;
}

}  // namespace keel::hooks

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

// The command form's answer as an HTTP body. A status code cannot block, so where the command
// would exit 2 with only stderr the body is Claude's top-level block with that text as reason.
std::string body_of(RenderResult r) {
  if (r.exit_code != 2 || !r.stdout_text.empty()) return std::move(r.stdout_text);
  std::string reason = std::move(r.stderr_text);
  while (!reason.empty() && reason.back() == '\n') reason.pop_back();
  return json::serialize(json::object{{"decision", "block"}, {"reason", reason}});
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
  if (body.size() > kMaxHookInput) {
    return error_reply(413, "hook event over the " + std::to_string(kMaxHookInput) + "-byte limit");
  }
  HookEvent ev;
  HttpHookReply reply;
  RenderResult r;
  try {
    ev = dialect->parse(body);
  } catch (const HookInputError& e) {
    if (!engine.config().permission_fail_closed) {
      return error_reply(400, std::string("unreadable hook input: ") + e.what());
    }
    reply.errors.push_back(std::string("unreadable hook input: ") + e.what());
    reply.body = body_of(dialect->render_unreadable(e.what()));
    return reply;
  }
  const state::Principal who = principal_for(ev);
  EngineResult result = engine.decide(ev, who, [&store]() -> state::Store& { return store; });
  for (auto& e : result.errors) reply.errors.push_back(ev.event_name + ": " + e);
  reply.body = body_of(dialect->render(ev, result.decision));
  return reply;
}

}  // namespace keel::hooks

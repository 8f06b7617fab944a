// http_hooks.cpp — see http_hooks.h.
#include "hooks/http_hooks.h"

#include <boost/json.hpp>

#include "hooks/dialect.h"
#include "hooks/pipeline.h"

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

namespace {
// POST /hooks/<dialect>: the engine shared by the server, the bearer token's principal.
class HttpHost final : public HookHost {
 public:
  HttpHost(const HookEngine& engine, const PrincipalFor& principal_for, state::Store& store)
      : engine_(engine), principal_for_(principal_for), store_(store) {}
  bool unreadable_fails_closed() const override { return engine_.config().permission_fail_closed; }
  std::optional<HookDecision> prepare(const HookEvent& ev) override {
    who_ = principal_for_(ev);
    return std::nullopt;
  }
  const HookEngine& engine() const override { return engine_; }
  const state::Principal& principal() const override { return who_; }
  state::Store& open_store() override { return store_; }

 private:
  const HookEngine& engine_;
  const PrincipalFor& principal_for_;
  state::Store& store_;
  state::Principal who_;
};
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
  HttpHost host(engine, principal_for, store);
  HookAnswer answer = run_hook_pipeline(*dialect, body, host);
  HttpHookReply reply;
  if (answer.input_error) {
    const std::string what = "unreadable hook input: " + *answer.input_error;
    if (!host.unreadable_fails_closed()) return error_reply(400, what);
    reply.errors.push_back(what);
  }
  for (auto& e : answer.errors) reply.errors.push_back(answer.event_name + ": " + e);
  reply.body = body_of(std::move(answer.rendered));
  return reply;
}

}  // namespace keel::hooks

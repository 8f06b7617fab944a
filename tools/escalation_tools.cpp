// escalation_request, escalation_status, escalation_list, escalation_resolve:
// human-in-the-loop with a budget. The rules (bucket, idempotency, who may
// resolve, exactly-one-winner) live in state/; this file adds asking the human
// directly when the client can: legacy era through elicitation/create on the
// request's stream, 2026-07-28 era through an InputRequiredResult whose
// requestState is HMAC-sealed.
#include <chrono>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "crypto/sha256.h"
#include "mcp/request_state.h"
#include "state/escalation.h"
#include "tools/tool_support.h"
#include "tools/tools.h"

namespace keel::tools {

namespace json = boost::json;

namespace {

// The key under which the InputRequiredResult carries the elicitation.
constexpr std::string_view kInputKey = "escalation";
// How long a sealed requestState stays valid (the human may take a while).
constexpr std::int64_t kStateTtlMs = 3'600'000;

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// ------------------------------------------------------------ requestState

// Per process: a restart invalidates outstanding states (the retry gets
// -32602 and the agent polls escalation_status instead).
const mcp::RequestStateSealer& sealer() {
  static const mcp::RequestStateSealer s = mcp::RequestStateSealer::random();
  return s;
}

// ---------------------------------------------------------------- shapes

constexpr std::string_view kStatuses[] = {"pending", "resolved"};
constexpr wire::Doc kStatusDoc{.name = "status", .one_of = kStatuses};
std::string status_of(const state::Escalation& e) { return e.resolved ? "resolved" : "pending"; }

// An escalation as the tools, `keel escalation --json` and the HTTP endpoint show it.
struct EscalationOut {
  std::int64_t id = 0;
  std::string status{};
  std::string agent{};
  std::string reason{};
  state::EscalationImpact impact = state::EscalationImpact::kLow;
  std::optional<std::string> severity{};
  std::optional<json::value> context{};   // always there
  std::optional<json::value> proposal{};  // always there
  std::optional<std::string> request_id{};
  std::int64_t created_at = 0;
  std::optional<state::EscalationDecision> decision{};
  std::optional<json::value> resolved_proposal{};
  std::optional<std::string> resolver{};
  std::optional<std::string> resolved_via{};
  std::optional<std::int64_t> resolved_at{};
  static constexpr wire::Doc docs[] = {
      kStatusDoc,
      {.name = "agent", .description = "who asked"},
      {.name = "proposal", .description = "what the agent proposed"},
      {.name = "created_at", .description = "ms since the Unix epoch"},
      {.name = "resolved_proposal",
       .description = "what to do now: OVERRIDE the proposal, MODIFY the human's version, ABORT null"}};

  static EscalationOut of(const state::Escalation& e) {
    EscalationOut out{.id = e.id,
                      .status = status_of(e),
                      .agent = e.agent,
                      .reason = e.reason,
                      .impact = e.impact,
                      .context = e.context,
                      .proposal = e.proposal,
                      .request_id = e.request_id,
                      .created_at = e.created_at_ms};
    if (!e.severity.empty()) out.severity = e.severity;
    if (e.resolved) {
      out.decision = e.decision;
      out.resolved_proposal = e.resolved_proposal;
      out.resolver = e.resolver;
      out.resolved_via = e.resolved_via;
      out.resolved_at = e.resolved_at_ms;
    }
    return out;
  }
};
BOOST_DESCRIBE_STRUCT(EscalationOut, (),
                      (id, status, agent, reason, impact, severity, context, proposal, request_id,
                       created_at, decision, resolved_proposal, resolver, resolved_via, resolved_at))

constexpr wire::Doc kProposalNowDoc{
    .name = "proposal",
    .description = "when resolved: what to do now (OVERRIDE: your proposal, MODIFY: the human's "
                   "version, ABORT: null)"};

// Every answer about one escalation: {id, status, decision?, proposal? (what
// to do now), escalation}.
struct StatusOut {
  std::int64_t id = 0;
  std::string status{};
  std::optional<state::EscalationDecision> decision{};
  std::optional<json::value> proposal{};
  std::optional<EscalationOut> escalation{};  // always there
  static constexpr wire::Doc docs[] = {kStatusDoc, kProposalNowDoc};

  static StatusOut of(const state::Escalation& e) {
    StatusOut out{e.id, status_of(e), std::nullopt, std::nullopt, EscalationOut::of(e)};
    if (e.resolved && e.decision) {
      out.decision = e.decision;
      out.proposal = e.resolved_proposal;
    }
    return out;
  }
};
BOOST_DESCRIBE_STRUCT(StatusOut, (), (id, status, decision, proposal, escalation))

// escalation_request's answer: the StatusOut fields when GRANTED.
struct RequestOut {
  std::optional<std::int64_t> id{};
  std::optional<std::string> status{};
  std::optional<state::EscalationDecision> decision{};
  std::optional<json::value> proposal{};
  std::optional<EscalationOut> escalation{};
  state::EscalationOutcome outcome = state::EscalationOutcome::kGranted;
  std::optional<std::int64_t> retry_after_ms{};
  std::optional<std::int64_t> tokens_left{};
  std::optional<bool> replayed{};
  static constexpr wire::Doc docs[] = {
      kStatusDoc, kProposalNowDoc,
      {.name = "retry_after_ms", .description = "BUDGET_EXHAUSTED: when a token is back"}};
};
BOOST_DESCRIBE_STRUCT(RequestOut, (),
                      (id, status, decision, proposal, escalation, outcome, retry_after_ms,
                       tokens_left, replayed))

struct RequestArgs {
  std::string reason{};
  std::optional<json::value> context{};
  json::value proposal{};
  state::EscalationImpact impact = state::EscalationImpact::kLow;
  std::optional<std::string> severity{};
  std::optional<std::string> request_id{};
  static constexpr wire::Doc docs[] = {
      {.name = "reason",
       .description = "what you need decided and why",
       .min_length = 1,
       .max_length = state::escalation::kMaxReasonBytes},
      {.name = "context", .description = "any JSON that helps the human decide (files, errors...)"},
      {.name = "proposal", .description = "what you propose to do (any JSON)"},
      {.name = "severity", .max_length = state::escalation::kMaxSeverityBytes},
      {.name = "request_id", .min_length = 1, .max_length = state::escalation::kMaxRequestIdBytes}};

  state::EscalationRequest request() const {
    state::EscalationRequest req{};
    req.reason = reason;
    req.context = context.value_or(nullptr);
    req.proposal = proposal;
    req.impact = impact;
    req.severity = severity.value_or("");
    req.request_id = request_id;
    return req;
  }
};
BOOST_DESCRIBE_STRUCT(RequestArgs, (), (reason, context, proposal, impact, severity, request_id))

struct StatusArgs {
  std::int64_t id = 0;
  std::int64_t wait_ms = 0;
  static constexpr wire::Doc docs[] = {
      {.name = "id", .minimum = 1},
      {.name = "wait_ms",
       .description = "at most the config key escalation.max_wait_ms",
       .minimum = 0,
       .show_default = true}};
};
BOOST_DESCRIBE_STRUCT(StatusArgs, (), (id, wait_ms))

constexpr std::string_view kListStatuses[] = {"pending", "resolved", "all"};
struct ListArgs {
  std::string status = "all";
  std::optional<std::string> cursor{};
  std::optional<std::int64_t> limit{};
  static constexpr wire::Doc docs[] = {
      {.name = "status", .one_of = kListStatuses, .show_default = true},
      {.name = "limit", .minimum = 1, .maximum = state::escalation::kMaxPageSize}};
};
BOOST_DESCRIBE_STRUCT(ListArgs, (), (status, cursor, limit))

struct ListOut {
  std::vector<EscalationOut> escalations{};
  std::optional<std::string> next_cursor{};
  static constexpr wire::Doc docs[] = {
      {.name = "next_cursor", .description = "pass as cursor for the next page"}};
};
BOOST_DESCRIBE_STRUCT(ListOut, (), (escalations, next_cursor))

constexpr std::string_view kDecisions[] = {"override", "modify", "abort",
                                           "OVERRIDE", "MODIFY", "ABORT"};
struct ResolveArgs {
  std::int64_t id = 0;
  std::string decision{};
  std::optional<json::value> proposal{};
  static constexpr wire::Doc docs[] = {
      {.name = "id", .minimum = 1},
      {.name = "decision", .one_of = kDecisions},
      {.name = "proposal", .description = "with modify only: the modified proposal (any JSON)"}};
};
BOOST_DESCRIBE_STRUCT(ResolveArgs, (), (id, decision, proposal))

std::string args_digest(const RequestArgs& args) {
  return crypto::sha256_hex(json::serialize(wire::encode(args)));
}

// The answer about one escalation in words, then `out` (its JSON).
std::string status_text(const state::Escalation& e, const json::value& out) {
  const std::string id = std::to_string(e.id);
  if (!e.resolved || !e.decision) {
    return "escalation " + id + " is pending: no decision yet. Do not go ahead; poll "
           "escalation_status {id: " + id + ", wait_ms} for the human's decision.\n" +
           json::serialize(out);
  }
  const std::string decision(state::to_string(*e.decision));
  std::string advice = *e.decision == state::EscalationDecision::kAbort    ? "do not do it"
                       : *e.decision == state::EscalationDecision::kModify ? "go ahead with the modified proposal"
                                                                         : "go ahead as proposed";
  return "escalation " + id + " resolved " + decision + ": " + advice + ".\n" +
         json::serialize(out);
}

Reply<StatusOut> status_reply(const state::Escalation& e) {
  StatusOut out = StatusOut::of(e);
  std::string text = status_text(e, wire::encode(out));
  return {std::move(out), std::move(text)};
}

// ------------------------------------------------------------ elicitation

bool client_elicits_forms(const mcp::CallContext& ctx) {
  const json::value* e = ctx.client_capabilities.if_contains("elicitation");
  if (e == nullptr || !e->is_object()) return false;
  const auto& modes = e->get_object();
  return modes.empty() || modes.contains("form");  // {} means form only
}

json::object elicitation_request(const state::Escalation& e) {
  std::string message = "Agent " + e.agent + " escalates (impact " +
                        std::string(state::to_string(e.impact)) +
                        (e.severity.empty() ? "" : ", severity " + e.severity) + "): " + e.reason +
                        "\nProposal: " + json::serialize(e.proposal);
  if (!e.context.is_null()) message += "\nContext: " + json::serialize(e.context);
  if (message.size() > 4000) message = message.substr(0, 3997) + "...";
  json::object requested = schema(R"js({
    "type": "object",
    "properties": {
      "decision": {"type": "string", "title": "Decision",
                   "description": "override: go ahead as proposed; modify: go ahead with the proposal below; abort: do not do it",
                   "enum": ["override", "modify", "abort"]},
      "proposal": {"type": "string", "title": "Modified proposal (JSON)",
                   "description": "only with modify: what the agent should do instead"}
    },
    "required": ["decision"]
  })js");
  return json::object{{"mode", "form"},
                      {"message", message},
                      {"requestedSchema", std::move(requested)}};
}

// What an elicitation answer (ElicitResult) decides; no decision: it stays
// pending (cancel, or an answer that does not say what to do).
struct Answer {
  std::optional<state::EscalationDecision> decision{};
  std::optional<json::value> proposal{};
  std::string note{};  // why nothing was decided
};

Answer interpret(const json::value& result) {
  Answer a;
  const json::object* r = result.if_object();
  const json::value* action = r ? r->if_contains("action") : nullptr;
  if (action == nullptr || !action->is_string()) {
    a.note = "the elicitation answer has no action";
    return a;
  }
  if (*action == "decline") {
    a.decision = state::EscalationDecision::kAbort;
    return a;
  }
  if (*action != "accept") {
    a.note = "the human cancelled without deciding";
    return a;
  }
  const json::value* content = r->if_contains("content");
  const json::object* c = content ? content->if_object() : nullptr;
  std::string decision = "override";  // a bare accept (clients that only approve)
  std::string proposal{};
  if (c) {
    if (const json::value* d = c->if_contains("decision"); d && d->is_string()) {
      decision = std::string(d->get_string());
    }
    if (const json::value* p = c->if_contains("proposal"); p && p->is_string()) {
      proposal = std::string(p->get_string());
    }
  }
  a.decision = state::parse_escalation_decision(decision);
  if (!a.decision) {
    a.note = "the elicitation answer's decision '" + decision + "' is not override|modify|abort";
    return a;
  }
  if (*a.decision == state::EscalationDecision::kModify) {
    if (proposal.find_first_not_of(" \t\r\n") == std::string::npos) {
      a.decision.reset();
      a.note = "modify was chosen without a modified proposal";
      return a;
    }
    // A form field is text: JSON when it parses, else the text itself.
    boost::system::error_code ec;
    json::value v = json::parse(proposal, ec);
    a.proposal = ec ? json::value(proposal) : std::move(v);
  }
  return a;
}

// Applies a human's answer given through `who`'s client. The human acts as
// "human@<agent>" with escalation.resolve only: the client that asked them is
// the channel the MCP elicitation design trusts.
state::Escalation apply(const ToolEnv& env, const state::Principal& who, const state::Escalation& e,
                        const Answer& answer, std::string_view via) {
  if (!answer.decision) {
    spdlog::info("escalation {}: stays pending ({})", e.id, answer.note);
    return e;
  }
  state::Principal human{"human@" + who.agent, who.project, who.session_id,
                         {std::string(state::caps::kEscalationResolve)}};
  state::ResolveEscalationRequest r{};
  r.id = e.id;
  r.decision = *answer.decision;
  r.proposal = answer.proposal;
  r.via = std::string(via);
  return env.store->resolve_escalation(human, r).escalation;  // lost race: the winner's
}

// What a sealed requestState holds: the escalation asked about, for whom,
// until when, and a digest of the arguments it answers.
struct SealedState {
  std::int64_t id = 0;
  std::string agent{};
  std::string project{};
  std::int64_t exp = 0;
  std::string args{};
};
BOOST_DESCRIBE_STRUCT(SealedState, (), (id, agent, project, exp, args))

mcp::ToolResult input_required(const state::Escalation& e, const state::Principal& who,
                               const RequestArgs& args) {
  const SealedState st{e.id, who.agent, who.project, wall_ms() + kStateTtlMs, args_digest(args)};
  json::object r{{"resultType", "input_required"},
                 {"inputRequests",
                  json::object{{kInputKey, json::object{{"method", "elicitation/create"},
                                                        {"params", elicitation_request(e)}}}}},
                 {"requestState", sealer().seal(wire::encode_object(st))}};
  mcp::ToolResult out;
  out.raw = std::move(r);
  return out;
}

// `now`: the escalation as it stands after the human answered, when they did.
Reply<RequestOut> request_reply(const state::EscalationRequestResult& r,
                                std::optional<state::Escalation> now = std::nullopt) {
  RequestOut out{.outcome = r.outcome};
  if (r.outcome == state::EscalationOutcome::kBudgetExhausted) {
    out.retry_after_ms = r.retry_after_ms;
    out.tokens_left = 0;
    std::string text = "BUDGET_EXHAUSTED: no escalation was filed; your escalation budget is "
                       "spent. Do not go ahead with the risky action; retry after " +
                       std::to_string(r.retry_after_ms) + " ms.\n" +
                       json::serialize(wire::encode(out));
    return {std::move(out), std::move(text)};
  }
  const state::Escalation& e = now ? *now : *r.escalation;
  StatusOut status = StatusOut::of(e);
  out.id = status.id;
  out.status = std::move(status.status);
  out.decision = status.decision;
  out.proposal = std::move(status.proposal);
  out.escalation = std::move(status.escalation);
  out.tokens_left = r.tokens_left;
  if (r.replayed) out.replayed = true;
  std::string text = "GRANTED: " + status_text(e, wire::encode(out));
  return {std::move(out), std::move(text)};
}

// The retry of an escalation_request that answered with an InputRequiredResult.
mcp::ToolResult request_retry(const ToolEnv& env, const state::Principal& who,
                              const RequestArgs& args, const mcp::CallContext& ctx) {
  SealedState st;
  try {
    st = wire::decode<SealedState>(sealer().open(ctx.request_state));
  } catch (const Failure&) {
    throw mcp::request_state_error("is malformed");
  }
  if (st.agent != who.agent || st.project != who.project) {
    throw mcp::request_state_error("belongs to another principal");
  }
  if (st.args != args_digest(args)) throw mcp::request_state_error("belongs to other arguments");
  if (st.exp < wall_ms()) {
    throw mcp::request_state_error("has expired; poll escalation_status instead");
  }

  state::Escalation e = env.store->get_escalation(who, st.id);
  state::EscalationRequestResult r{};
  r.outcome = state::EscalationOutcome::kGranted;
  r.escalation = e;
  if (!e.resolved) {
    const json::object* responses = ctx.input_responses.if_object();
    const json::value* answer = responses ? responses->if_contains(kInputKey) : nullptr;
    if (answer == nullptr) return input_required(e, who, args);  // asked, not answered: ask again
    e = apply(env, who, e, interpret(*answer), "mrtr");
  }
  Reply<RequestOut> reply = request_reply(r, e);
  reply.value.tokens_left.reset();  // unknown without reading the bucket
  return to_result(std::move(reply));
}

}  // namespace

json::object escalation_json(const state::Escalation& e) {
  return wire::encode_object(EscalationOut::of(e));
}

std::string escalation_line(const state::Escalation& e) {
  std::string line = std::to_string(e.id) + "  " + (e.resolved ? "resolved" : "pending ") + "  " +
                     std::string(state::to_string(e.impact)) + "  " + e.agent + "  " + e.reason;
  if (e.resolved && e.decision) {
    line += "  -> " + std::string(state::to_string(*e.decision)) + " by " + e.resolver;
  }
  return line;
}

void register_escalation_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  registry.add(declare_tool<RequestArgs, RequestOut>(
      {.name = "escalation_request",
       .title = "Ask a human",
       .description =
           "Escalate a risky or uncertain decision to a human before acting. Spends one token "
           "of your escalation budget (default 3 per hour): returns outcome GRANTED with an id, "
           "or BUDGET_EXHAUSTED with retry_after_ms (nothing filed). When your client supports "
           "elicitation the human is asked at once; otherwise the escalation stays pending and a "
           "human resolves it OVERRIDE (go ahead), MODIFY (go ahead with their proposal) or "
           "ABORT: poll escalation_status {id, wait_ms}. Do not act until resolved. A retry with "
           "the same request_id returns the same escalation without spending a token.",
       .annotations = {.read_only = false, .destructive = false, .idempotent = false}},
      [env](const RequestArgs& args, const mcp::CallContext& ctx) -> mcp::ToolResult {
        const state::Principal who = env->principal(ctx);
        if (ctx.modern && !ctx.request_state.empty()) return request_retry(*env, who, args, ctx);

        state::EscalationRequestResult r = env->store->request_escalation(who, args.request());
        if (r.outcome != state::EscalationOutcome::kGranted || r.escalation->resolved ||
            !client_elicits_forms(ctx)) {
          return to_result(request_reply(r));
        }
        if (ctx.modern) return input_required(*r.escalation, who, args);
        if (!ctx.request) return to_result(request_reply(r));
        json::value answer{};
        try {
          answer = ctx.request("elicitation/create", elicitation_request(*r.escalation));
        } catch (const std::exception& e) {  // client error, cancel, timeout: stays pending
          spdlog::info("escalation {}: elicitation failed, stays pending: {}", r.escalation->id,
                       e.what());
          return to_result(request_reply(r));
        }
        return to_result(
            request_reply(r, apply(*env, who, *r.escalation, interpret(answer), "elicitation")));
      }));

  registry.add(declare_tool<StatusArgs, StatusOut>(
      {.name = "escalation_status",
       .title = "Status of an escalation",
       .description =
           "The state of an escalation; with wait_ms, waits up to that long for the human's "
           "decision (returns as soon as it is made). status resolved carries decision "
           "OVERRIDE | MODIFY | ABORT and proposal: what to do now.",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const StatusArgs& args, const mcp::CallContext& ctx) {
        return status_reply(env->store->wait_escalation(
            env->principal(ctx), args.id, args.wait_ms,
            ctx.cancelled ? state::CancelCheck(ctx.cancelled) : state::CancelCheck{}));
      }));

  registry.add(declare_tool<ListArgs, ListOut>(
      {.name = "escalation_list",
       .title = "List escalations",
       .description = "Escalations of this project, newest first: pending and recent "
                      "resolved ones (status filters), paginated with cursor.",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const ListArgs& args, const mcp::CallContext& ctx) {
        state::EscalationListRequest req{};
        if (args.status != "all") req.resolved = args.status == "resolved";
        req.cursor = args.cursor.value_or("");
        req.limit = static_cast<int>(args.limit.value_or(0));
        auto page = env->store->list_escalations(env->principal(ctx), req);
        ListOut out;
        std::string text{};
        for (const auto& e : page.escalations) {
          out.escalations.push_back(EscalationOut::of(e));
          text += escalation_line(e) + "\n";
        }
        if (text.empty()) text = "no escalations\n";
        if (!page.next_cursor.empty()) {
          out.next_cursor = page.next_cursor;
          text += "more: cursor " + page.next_cursor + "\n";
        }
        return Reply<ListOut>{std::move(out), std::move(text)};
      }));

  registry.add(declare_tool<ResolveArgs, StatusOut>(
      {.name = "escalation_resolve",
       .title = "Resolve an escalation",
       .description =
           "Decide a pending escalation: override (go ahead as proposed), modify (go ahead with "
           "the given proposal, any JSON) or abort. Needs the escalation.resolve capability "
           "(humans). When someone else resolved it first the call fails with CONFLICT and "
           "names their decision.",
       .annotations = {.read_only = false, .destructive = false, .idempotent = false}},
      [env](const ResolveArgs& args, const mcp::CallContext& ctx) {
        state::ResolveEscalationRequest req{};
        req.id = args.id;
        req.decision = *state::parse_escalation_decision(args.decision);
        req.proposal = args.proposal;
        req.via = "tool";
        auto r = env->store->resolve_escalation(env->principal(ctx), req);
        if (!r.resolved) throw Failure(ToolCode::kConflict, conflict_message(r.escalation));
        return status_reply(r.escalation);
      }));
}

// Arguments as escalation_request takes them, but not schema-checked (fanout
// builds them): decoded like the tool's, a StoreError for what the store refuses.
EscalationFiler make_escalation_filer(state::Store* store) {
  return [store](const state::Principal& who, const json::object& args) {
    state::EscalationRequestResult r{};
    try {
      r = store->request_escalation(who, wire::decode<RequestArgs>(args).request());
    } catch (const Failure& e) {
      throw state::StoreError(state::ErrorCode::kInvalidArgument, e.what());
    }
    RequestOut out{.outcome = r.outcome};
    if (r.escalation) out.id = r.escalation->id;
    if (r.outcome == state::EscalationOutcome::kBudgetExhausted) out.retry_after_ms = r.retry_after_ms;
    return wire::encode_object(out);
  };
}

std::string conflict_message(const state::Escalation& e) {
  return "escalation " + std::to_string(e.id) + " was already resolved " +
         std::string(e.decision ? state::to_string(*e.decision) : "") + " by " + e.resolver +
         " (via " + e.resolved_via + ", at " + std::to_string(e.resolved_at_ms) +
         " ms epoch); your decision was not applied";
}

}  // namespace keel::tools

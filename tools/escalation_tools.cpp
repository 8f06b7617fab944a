// escalation_request, escalation_status, escalation_list, escalation_resolve:
// human-in-the-loop with a budget. The rules (bucket, idempotency, who may
// resolve, exactly-one-winner) live in state/; this file adds asking the human
// directly when the client can: legacy era through elicitation/create on the
// request's stream, 2026-07-28 era through an InputRequiredResult whose
// requestState is HMAC-sealed.
#include <chrono>
#include <random>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "crypto/hmac.h"
#include "crypto/random.h"
#include "crypto/sha256.h"
#include "mcp/jsonrpc.h"
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
const std::string& state_key() {
  static const std::string key = crypto::secure_random_hex(32);
  return key;
}

std::string seal(const json::object& payload) {
  const std::string body = json::serialize(payload);
  return crypto::hmac_sha256_hex(state_key(), body) + "." + body;
}

[[noreturn]] void bad_state(const std::string& why) {
  throw mcp::ProtocolError(static_cast<int>(mcp::jsonrpc::ErrorCode::kInvalidParams),
                           "Invalid params: requestState " + why);
}

// The payload of a state this process sealed; -32602 for anything else.
json::object unseal(const std::string& state) {
  const auto dot = state.find('.');
  if (dot != std::string::npos) {
    const std::string_view mac = std::string_view(state).substr(0, dot);
    const std::string_view body = std::string_view(state).substr(dot + 1);
    if (crypto::constant_time_equals(mac, crypto::hmac_sha256_hex(state_key(), body))) {
      boost::system::error_code ec;
      json::value v = json::parse(body, ec);
      if (!ec && v.is_object()) return v.as_object();
    }
  }
  bad_state("failed its integrity check");
}

std::string args_digest(const json::object& args) {
  return crypto::sha256_hex(json::serialize(args));
}

// ---------------------------------------------------------------- shapes

json::object escalation_schema() {
  return schema(R"js({
    "type": "object",
    "properties": {
      "id": {"type": "integer"},
      "status": {"type": "string", "enum": ["pending", "resolved"]},
      "agent": {"type": "string", "description": "who asked"},
      "reason": {"type": "string"},
      "impact": {"type": "string", "enum": ["low", "high"]},
      "severity": {"type": "string"},
      "context": {},
      "proposal": {"description": "what the agent proposed"},
      "request_id": {"type": "string"},
      "created_at": {"type": "integer", "description": "ms since the Unix epoch"},
      "decision": {"type": "string", "enum": ["OVERRIDE", "MODIFY", "ABORT"]},
      "resolved_proposal": {"description": "what to do now: OVERRIDE the proposal, MODIFY the human's version, ABORT null"},
      "resolver": {"type": "string"},
      "resolved_via": {"type": "string"},
      "resolved_at": {"type": "integer"}
    },
    "required": ["id", "status", "agent", "reason", "impact", "created_at"]
  })js");
}

// The fields every answer about one escalation carries at the top level:
// {id, status, decision?, proposal? (what to do now), escalation}.
json::object status_json(const state::Escalation& e) {
  json::object out{{"id", e.id},
                   {"status", e.resolved ? "resolved" : "pending"},
                   {"escalation", escalation_json(e)}};
  if (e.resolved && e.decision) {
    out["decision"] = state::to_string(*e.decision);
    out["proposal"] = e.resolved_proposal;
  }
  return out;
}

json::object status_schema(json::object extra_properties = {}) {
  json::object s = schema(R"js({
    "type": "object",
    "properties": {
      "id": {"type": "integer"},
      "status": {"type": "string", "enum": ["pending", "resolved"]},
      "decision": {"type": "string", "enum": ["OVERRIDE", "MODIFY", "ABORT"]},
      "proposal": {"description": "when resolved: what to do now (OVERRIDE: your proposal, MODIFY: the human's version, ABORT: null)"}
    },
    "required": ["id", "status"]
  })js");
  auto& props = s["properties"].as_object();
  props["escalation"] = escalation_schema();
  for (auto& [k, v] : extra_properties) props[k] = v;
  return s;
}

// escalation_request's output: the status fields when GRANTED.
json::object request_schema() {
  json::object s = status_schema(schema(R"js({
    "outcome": {"type": "string", "enum": ["GRANTED", "BUDGET_EXHAUSTED"]},
    "retry_after_ms": {"type": "integer", "description": "BUDGET_EXHAUSTED: when a token is back"},
    "tokens_left": {"type": "integer"},
    "replayed": {"type": "boolean"}
  })js"));
  s["required"] = json::array{"outcome"};
  return s;
}

std::string status_text(const json::object& out) {
  const std::string id = std::to_string(out.at("id").as_int64());
  if (out.at("status") == "pending") {
    return "escalation " + id + " is pending: no decision yet. Do not go ahead; poll "
           "escalation_status {id: " + id + ", wait_ms} for the human's decision.\n" +
           json::serialize(out);
  }
  const std::string decision(out.at("decision").as_string());
  std::string advice = decision == "ABORT"    ? "do not do it"
                       : decision == "MODIFY" ? "go ahead with the modified proposal"
                                              : "go ahead as proposed";
  return "escalation " + id + " resolved " + decision + ": " + advice + ".\n" +
         json::serialize(out);
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
  std::optional<state::EscalationDecision> decision;
  std::optional<json::value> proposal;
  std::string note;  // why nothing was decided
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
  std::string proposal;
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
  state::ResolveEscalationRequest r;
  r.id = e.id;
  r.decision = *answer.decision;
  r.proposal = answer.proposal;
  r.via = std::string(via);
  return env.store->resolve_escalation(human, r).escalation;  // lost race: the winner's
}

mcp::ToolResult input_required(const state::Escalation& e, const state::Principal& who,
                               const json::object& args) {
  json::object st{{"id", e.id},
                  {"agent", who.agent},
                  {"project", who.project},
                  {"exp", wall_ms() + kStateTtlMs},
                  {"args", args_digest(args)}};
  json::object r{{"resultType", "input_required"},
                 {"inputRequests",
                  json::object{{kInputKey, json::object{{"method", "elicitation/create"},
                                                        {"params", elicitation_request(e)}}}}},
                 {"requestState", seal(st)}};
  mcp::ToolResult out;
  out.raw = std::move(r);
  return out;
}

mcp::ToolResult request_result(const state::EscalationRequestResult& r,
                               std::optional<state::Escalation> now = std::nullopt) {
  json::object out{{"outcome", state::to_string(r.outcome)}};
  if (r.outcome == state::EscalationOutcome::kBudgetExhausted) {
    out["retry_after_ms"] = r.retry_after_ms;
    out["tokens_left"] = 0;
    std::string text = "BUDGET_EXHAUSTED: no escalation was filed; your escalation budget is "
                       "spent. Do not go ahead with the risky action; retry after " +
                       std::to_string(r.retry_after_ms) + " ms.\n" + json::serialize(out);
    return mcp::ToolResult{std::move(out), std::move(text)};
  }
  const state::Escalation& e = now ? *now : *r.escalation;
  for (auto& [k, v] : status_json(e)) out[k] = v;
  out["tokens_left"] = r.tokens_left;
  if (r.replayed) out["replayed"] = true;
  std::string text = "GRANTED: " + status_text(out);
  return mcp::ToolResult{std::move(out), std::move(text)};
}

// The retry of an escalation_request that answered with an InputRequiredResult.
mcp::ToolResult request_retry(const ToolEnv& env, const state::Principal& who,
                              const json::object& args, const mcp::CallContext& ctx) {
  const json::object st = unseal(ctx.request_state);
  const json::value* id = st.if_contains("id");
  const json::value* exp = st.if_contains("exp");
  const json::value* agent = st.if_contains("agent");
  const json::value* project = st.if_contains("project");
  const json::value* digest = st.if_contains("args");
  if (id == nullptr || !id->is_int64() || exp == nullptr || !exp->is_int64() ||
      agent == nullptr || project == nullptr || digest == nullptr) {
    bad_state("is malformed");
  }
  if (*agent != json::value(who.agent) || *project != json::value(who.project)) {
    bad_state("belongs to another principal");
  }
  if (*digest != json::value(args_digest(args))) {
    bad_state("belongs to other arguments");
  }
  if (exp->as_int64() < wall_ms()) bad_state("has expired; poll escalation_status instead");

  state::Escalation e = env.store->get_escalation(who, id->as_int64());
  state::EscalationRequestResult r;
  r.outcome = state::EscalationOutcome::kGranted;
  r.escalation = e;
  if (!e.resolved) {
    const json::object* responses = ctx.input_responses.if_object();
    const json::value* answer = responses ? responses->if_contains(kInputKey) : nullptr;
    if (answer == nullptr) return input_required(e, who, args);  // asked, not answered: ask again
    e = apply(env, who, e, interpret(*answer), "mrtr");
  }
  mcp::ToolResult out = request_result(r, e);
  out.structured.as_object().erase("tokens_left");  // unknown without reading the bucket
  return out;
}

}  // namespace

json::object escalation_json(const state::Escalation& e) {
  json::object out{{"id", e.id},
                   {"status", e.resolved ? "resolved" : "pending"},
                   {"agent", e.agent},
                   {"reason", e.reason},
                   {"impact", state::to_string(e.impact)},
                   {"context", e.context},
                   {"proposal", e.proposal},
                   {"created_at", e.created_at_ms}};
  if (!e.severity.empty()) out["severity"] = e.severity;
  if (e.request_id) out["request_id"] = *e.request_id;
  if (e.resolved) {
    if (e.decision) out["decision"] = state::to_string(*e.decision);
    out["resolved_proposal"] = e.resolved_proposal;
    out["resolver"] = e.resolver;
    out["resolved_via"] = e.resolved_via;
    out["resolved_at"] = e.resolved_at_ms;
  }
  return out;
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
  registry.add(mcp::Tool{
      .name = "escalation_request",
      .title = "Ask a human",
      .description =
          "Escalate a risky or uncertain decision to a human before acting. Spends one token "
          "of your escalation budget (default 3 per hour): returns outcome GRANTED with an id, "
          "or BUDGET_EXHAUSTED with retry_after_ms (nothing filed). When your client supports "
          "elicitation the human is asked at once; otherwise the escalation stays pending and a "
          "human resolves it OVERRIDE (go ahead), MODIFY (go ahead with their proposal) or "
          "ABORT: poll escalation_status {id, wait_ms}. Do not act until resolved. A retry with "
          "the same request_id returns the same escalation without spending a token.",
      .input_schema = schema(R"js({
        "type": "object",
        "properties": {
          "reason": {"type": "string", "minLength": 1, "maxLength": 4096, "description": "what you need decided and why"},
          "context": {"description": "any JSON that helps the human decide (files, errors...)"},
          "proposal": {"description": "what you propose to do (any JSON)"},
          "impact": {"type": "string", "enum": ["low", "high"]},
          "severity": {"type": "string", "maxLength": 64},
          "request_id": {"type": "string", "minLength": 1, "maxLength": 256}
        },
        "required": ["reason", "proposal", "impact"],
        "additionalProperties": false
      })js"),
      .output_schema = request_schema(),
      .annotations = {.read_only = false, .destructive = false, .idempotent = false},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&]() -> mcp::ToolResult {
          const state::Principal who = env->principal(ctx);
          if (ctx.modern && !ctx.request_state.empty()) return request_retry(*env, who, args, ctx);

          state::EscalationRequest req;
          req.reason = arg_string(args, "reason");
          if (auto it = args.find("context"); it != args.end()) req.context = it->value();
          if (auto it = args.find("proposal"); it != args.end()) req.proposal = it->value();
          req.impact = arg_string(args, "impact") == "high" ? state::EscalationImpact::kHigh
                                                            : state::EscalationImpact::kLow;
          req.severity = arg_string(args, "severity");
          req.request_id = arg_opt_string(args, "request_id");
          state::EscalationRequestResult r = env->store->request_escalation(who, req);
          if (r.outcome != state::EscalationOutcome::kGranted || r.escalation->resolved ||
              !client_elicits_forms(ctx)) {
            return request_result(r);
          }
          if (ctx.modern) return input_required(*r.escalation, who, args);
          if (!ctx.request) return request_result(r);
          json::value answer;
          try {
            answer = ctx.request("elicitation/create", elicitation_request(*r.escalation));
          } catch (const std::exception& e) {  // client error, cancel, timeout: stays pending
            spdlog::info("escalation {}: elicitation failed, stays pending: {}",
                         r.escalation->id, e.what());
            return request_result(r);
          }
          return request_result(r, apply(*env, who, *r.escalation, interpret(answer),
                                         "elicitation"));
        });
      }});

  registry.add(mcp::Tool{
      .name = "escalation_status",
      .title = "Status of an escalation",
      .description =
          "The state of an escalation; with wait_ms, waits up to that long for the human's "
          "decision (returns as soon as it is made). status resolved carries decision "
          "OVERRIDE | MODIFY | ABORT and proposal: what to do now.",
      .input_schema = schema(R"js({
        "type": "object",
        "properties": {
          "id": {"type": "integer", "minimum": 1},
          "wait_ms": {"type": "integer", "minimum": 0, "default": 0, "description": "at most the config key escalation.max_wait_ms"}
        },
        "required": ["id"],
        "additionalProperties": false
      })js"),
      .output_schema = status_schema(),
      .annotations = {.read_only = true, .destructive = false, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          const std::int64_t id = arg_opt_int(args, "id").value_or(0);
          const std::int64_t wait_ms = arg_opt_int(args, "wait_ms").value_or(0);
          state::Escalation e = env->store->wait_escalation(
              env->principal(ctx), id, wait_ms,
              ctx.cancelled ? state::CancelCheck(ctx.cancelled) : state::CancelCheck{});
          json::object out = status_json(e);
          std::string text = status_text(out);
          return mcp::ToolResult{std::move(out), std::move(text)};
        });
      }});

  json::object list_out = schema(R"js({
    "type": "object",
    "properties": {
      "escalations": {"type": "array"},
      "next_cursor": {"type": "string", "description": "pass as cursor for the next page"}
    },
    "required": ["escalations"]
  })js");
  list_out["properties"].as_object()["escalations"].as_object()["items"] = escalation_schema();
  registry.add(mcp::Tool{
      .name = "escalation_list",
      .title = "List escalations",
      .description = "Escalations of this project, newest first: pending and recent "
                     "resolved ones (status filters), paginated with cursor.",
      .input_schema = schema(R"js({
        "type": "object",
        "properties": {
          "status": {"type": "string", "enum": ["pending", "resolved", "all"], "default": "all"},
          "cursor": {"type": "string"},
          "limit": {"type": "integer", "minimum": 1, "maximum": 500}
        },
        "additionalProperties": false
      })js"),
      .output_schema = list_out,
      .annotations = {.read_only = true, .destructive = false, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          state::EscalationListRequest req;
          const std::string status = arg_string(args, "status", "all");
          if (status != "all") req.resolved = status == "resolved";
          req.cursor = arg_string(args, "cursor");
          req.limit = static_cast<int>(arg_opt_int(args, "limit").value_or(0));
          auto page = env->store->list_escalations(env->principal(ctx), req);
          json::array arr;
          std::string text;
          for (const auto& e : page.escalations) {
            arr.push_back(escalation_json(e));
            text += escalation_line(e) + "\n";
          }
          if (text.empty()) text = "no escalations\n";
          json::object out{{"escalations", std::move(arr)}};
          if (!page.next_cursor.empty()) {
            out["next_cursor"] = page.next_cursor;
            text += "more: cursor " + page.next_cursor + "\n";
          }
          return mcp::ToolResult{std::move(out), std::move(text)};
        });
      }});

  registry.add(mcp::Tool{
      .name = "escalation_resolve",
      .title = "Resolve an escalation",
      .description =
          "Decide a pending escalation: override (go ahead as proposed), modify (go ahead with "
          "the given proposal, any JSON) or abort. Needs the escalation.resolve capability "
          "(humans). When someone else resolved it first the call fails with CONFLICT and "
          "names their decision.",
      .input_schema = schema(R"js({
        "type": "object",
        "properties": {
          "id": {"type": "integer", "minimum": 1},
          "decision": {"type": "string", "enum": ["override", "modify", "abort", "OVERRIDE", "MODIFY", "ABORT"]},
          "proposal": {"description": "with modify only: the modified proposal (any JSON)"}
        },
        "required": ["id", "decision"],
        "additionalProperties": false
      })js"),
      .output_schema = status_schema(),
      .annotations = {.read_only = false, .destructive = false, .idempotent = false},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          state::ResolveEscalationRequest req;
          req.id = arg_opt_int(args, "id").value_or(0);
          req.decision = *state::parse_escalation_decision(arg_string(args, "decision"));
          if (auto it = args.find("proposal"); it != args.end()) req.proposal = it->value();
          req.via = "tool";
          auto r = env->store->resolve_escalation(env->principal(ctx), req);
          if (!r.resolved) throw mcp::ToolError("CONFLICT", conflict_message(r.escalation));
          json::object out = status_json(r.escalation);
          std::string text = status_text(out);
          return mcp::ToolResult{std::move(out), std::move(text)};
        });
      }});
}

EscalationFiler make_escalation_filer(state::Store* store) {
  return [store](const state::Principal& who, const json::object& args) {
    state::EscalationRequest req;
    if (const json::value* v = args.if_contains("reason"); v && v->is_string()) {
      req.reason = std::string(v->get_string());
    }
    if (const json::value* v = args.if_contains("context")) req.context = *v;
    if (const json::value* v = args.if_contains("proposal")) req.proposal = *v;
    if (const json::value* v = args.if_contains("impact"); v && *v == "high") {
      req.impact = state::EscalationImpact::kHigh;
    }
    if (const json::value* v = args.if_contains("severity"); v && v->is_string()) {
      req.severity = std::string(v->get_string());
    }
    if (const json::value* v = args.if_contains("request_id"); v && v->is_string()) {
      req.request_id = std::string(v->get_string());
    }
    const state::EscalationRequestResult r = store->request_escalation(who, req);
    json::object out{{"outcome", state::to_string(r.outcome)}};
    if (r.escalation) out["id"] = r.escalation->id;
    if (r.outcome == state::EscalationOutcome::kBudgetExhausted) {
      out["retry_after_ms"] = r.retry_after_ms;
    }
    return out;
  };
}

std::string conflict_message(const state::Escalation& e) {
  return "escalation " + std::to_string(e.id) + " was already resolved " +
         std::string(e.decision ? state::to_string(*e.decision) : "") + " by " + e.resolver +
         " (via " + e.resolved_via + ", at " + std::to_string(e.resolved_at_ms) +
         " ms epoch); your decision was not applied";
}

}  // namespace keel::tools

// keel/tools/tool_idempotency.cpp — see tool_idempotency.h.
#include "tools/tool_idempotency.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "crypto/sha256.h"
#include "tools/tool_error.h"
#include "tools/tool_support.h"

namespace keel::tools {

namespace json = boost::json;
using Status = state::RequestClaim::Status;

namespace {

constexpr std::string_view kRequestId = "request_id";

bool has_own_request_id(const mcp::Tool& tool) {
  const json::value* props = tool.input_schema.if_contains("properties");
  return props != nullptr && props->is_object() && props->get_object().contains(kRequestId);
}

// The property the wrapped tools' inputSchemas gain.
json::object request_id_property() {
  return json::object{
      {"type", "string"},
      {"minLength", 1},
      {"maxLength", static_cast<std::int64_t>(state::kMaxRequestIdBytes)},
      {"description",
       "makes a retry safe: a call with the same request_id and the same arguments returns "
       "the first call's result (marked in _meta \"dev.keel/replay\") without running again; "
       "other arguments are refused (INVALID_ARGUMENT); BUSY while the first call runs"}};
}

// A non-negative integral number in ms, or nullopt (absent, or a value the
// tool itself refuses).
std::optional<std::int64_t> ms_value(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_int64() && v->get_int64() >= 0) return v->get_int64();
  if (v->is_uint64()) {
    return static_cast<std::int64_t>(
        std::min<std::uint64_t>(v->get_uint64(), std::numeric_limits<std::int64_t>::max()));
  }
  if (v->is_double() && v->get_double() >= 0 && std::isfinite(v->get_double())) {
    return v->get_double() >= 9.0e18 ? std::numeric_limits<std::int64_t>::max()
                                     : static_cast<std::int64_t>(v->get_double());
  }
  return std::nullopt;
}

// How long the call may rightly run, from its own arguments, so that its
// claim does not go stale (and a retry run it again) while it still runs:
// a wait's `wait_ms` (memory_take, memory_get, ...), fanout_run's
// `budget.wall_ms`. Anything else: 0 (requests.claim_stale alone).
std::int64_t expected_ms(const json::object& args) {
  std::int64_t out = ms_value(args.if_contains("wait_ms")).value_or(0);
  if (const json::value* budget = args.if_contains("budget"); budget && budget->is_object()) {
    out = std::max(out, ms_value(budget->get_object().if_contains("wall_ms")).value_or(0));
  }
  return out;
}

// What a replay needs of a result: the whole CallToolResult minus its
// marking, or nullopt for a result that is not an answer to keep.
std::optional<json::object> storable(const mcp::ToolResult& r, const mcp::CallContext& ctx) {
  if (r.raw) {
    const json::value* type = r.raw->if_contains("resultType");
    if (type != nullptr && type->is_string() && type->get_string() == "input_required") {
      return std::nullopt;  // the call goes on in a retry of its own
    }
    const json::value* is_error = r.raw->if_contains("isError");
    if (is_error != nullptr && is_error->is_bool() && is_error->get_bool()) return std::nullopt;
    return *r.raw;
  }
  // As mcp::call_result renders it (a legacy client gets no non-object
  // structuredContent).
  std::string text = r.text;
  if (text.empty() && !r.structured.is_null()) text = json::serialize(r.structured);
  json::object out{{"content", json::array{json::object{{"type", "text"}, {"text", text}}}}};
  if (!r.structured.is_null() && (ctx.modern || r.structured.is_object())) {
    out["structuredContent"] = r.structured;
  }
  out["isError"] = false;
  return out;
}

// The stored result, marked as a replay.
mcp::ToolResult replayed(std::string_view stored, std::string_view request_id,
                         std::int64_t first_call_at) {
  json::value parsed;
  try {
    parsed = json::parse(stored);
  } catch (const std::exception&) {
  }
  if (!parsed.is_object()) {
    throw Failure(state::ErrorCode::kInternal,
                  "request_id " + std::string(request_id) + ": the stored result is unreadable");
  }
  json::object result = std::move(parsed.as_object());
  const std::string note = "(replay: request_id " + std::string(request_id) +
                           " already ran; this is its first result, nothing ran again)";
  if (json::value* content = result.if_contains("content"); content && content->is_array()) {
    json::array& blocks = content->as_array();
    bool noted = false;
    for (auto it = blocks.rbegin(); it != blocks.rend() && !noted; ++it) {
      if (it->is_object() && it->as_object().contains("text") && it->at("text").is_string()) {
        json::string& text = it->as_object()["text"].as_string();
        text = std::string(text) + "\n" + note;
        noted = true;
      }
    }
    if (!noted) blocks.push_back(json::object{{"type", "text"}, {"text", note}});
  }
  json::value& meta = result["_meta"];
  if (!meta.is_object()) meta = json::object{};
  meta.as_object()[kReplayMetaKey] =
      json::object{{"request_id", request_id}, {"first_call_at", first_call_at}};
  return mcp::ToolResult{.raw = std::move(result)};
}

// Drops the claim of a call that failed, so that a retry runs it again. A
// failure to drop it leaves the claim to go stale (the retry gets BUSY until
// then): logged, and the call's own error is what the caller sees.
void abandon(const ToolEnv& env, const state::Principal& who, const std::string& tool,
             const std::string& request_id, const std::string& claim_id) noexcept {
  try {
    env.store->abandon_request(who, tool, request_id, claim_id);
  } catch (const std::exception& e) {
    spdlog::warn("tool {}: request_id {}: the failed call's claim stays until stale: {}", tool,
                 request_id, e.what());
  }
}

// True when `error` says the call's change may or may not have been made.
bool outcome_unknown(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Failure& f) {
    return f.outcome_unknown();
  } catch (const state::StoreError& e) {
    return e.outcome_unknown();
  } catch (...) {
    return false;
  }
}

mcp::ToolResult call_once(const ToolEnv& env, const std::string& tool,
                          const mcp::ToolHandler& inner, const json::object& raw,
                          const mcp::CallContext& ctx) {
  const json::value* id_value = raw.if_contains(kRequestId);
  if (id_value == nullptr || id_value->is_null()) return inner(raw, ctx);
  if (!id_value->is_string()) invalid_argument("/request_id: must be a string");
  const std::string request_id(id_value->get_string());

  json::object args = raw;
  args.erase(kRequestId);
  const state::Principal who = env.principal(ctx);
  const state::RequestClaim claim = guarded([&] {
    return env.store->claim_request(who, tool, request_id, canonical_args_hash(args),
                                    expected_ms(args));
  });
  switch (claim.status) {
    case Status::kReplay:
      return replayed(claim.result_json, request_id, claim.claimed_at_ms);
    case Status::kMismatch:
      invalid_argument("request_id " + request_id + " was first used with other arguments for " +
                       tool + "; use a new request_id for a different call");
    case Status::kInFlight:
      throw Failure(state::ErrorCode::kBusy,
                    "another " + tool + " call with request_id " + request_id +
                        " is still running (since " + std::to_string(claim.claimed_at_ms) +
                        " ms since the epoch); retry later for its result");
    case Status::kNew:
      break;
  }

  mcp::ToolResult result;
  try {
    result = inner(args, ctx);
  } catch (...) {
    if (outcome_unknown(std::current_exception())) {
      // The change may have been made: a retry must not run the call again at
      // once. The claim stays in flight (BUSY to a retry) until it goes stale.
      spdlog::warn("tool {}: request_id {}: outcome unknown, the claim stays until stale", tool,
                   request_id);
    } else {
      abandon(env, who, tool, request_id, claim.claim_id);
    }
    throw;
  }
  // A cancelled call may still return normally (fanout_run reports status
  // "cancelled"): that is not the answer a retry asked for, so it runs again.
  const bool cancelled = ctx.cancelled && ctx.cancelled();
  const std::optional<json::object> keep =
      cancelled ? std::nullopt : storable(result, ctx);
  if (!keep) {
    abandon(env, who, tool, request_id, claim.claim_id);
    return result;
  }
  try {
    env.store->complete_request(who, tool, request_id, claim.claim_id, json::serialize(*keep));
  } catch (const std::exception& e) {
    // The call ran: its result goes back; a retry finds the claim in flight
    // until stale, then runs again (as after a crash).
    spdlog::warn("tool {}: request_id {}: result not stored: {}", tool, request_id,
                 e.what());
  }
  return result;
}

}  // namespace

std::string canonical_args_hash(const json::object& args) {
  if (!args.contains(kRequestId)) return crypto::sha256_hex(canonical_json(args));
  json::object without = args;
  without.erase(kRequestId);
  return crypto::sha256_hex(canonical_json(without));
}

mcp::ToolDecorator idempotency_decorator(std::shared_ptr<const ToolEnv> env) {
  return [env = std::move(env)](mcp::Tool tool) -> mcp::Tool {
    if (tool.annotations.read_only || has_own_request_id(tool)) return tool;
    json::value& props = tool.input_schema["properties"];
    if (!props.is_object()) props = json::object{};
    props.as_object()[kRequestId] = request_id_property();
    tool.handler = [env, inner = std::move(tool.handler), name = tool.name](
                       const json::object& raw, const mcp::CallContext& ctx) {
      return call_once(*env, name, inner, raw, ctx);
    };
    return tool;
  };
}

}  // namespace keel::tools

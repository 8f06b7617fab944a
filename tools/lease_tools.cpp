// lease_acquire, lease_renew, lease_release, lease_list: fenced, TTL-bound
// holds on files, directories or names. The rules live in state/ (Store).
#include <boost/json.hpp>

#include "tools/tool_support.h"
#include "tools/tools.h"

namespace keel::tools {

namespace json = boost::json;

namespace {

constexpr std::string_view kNameDoc =
    "file:/abs/path, dir:/abs/dir/ (covers everything under it), or any other name";

json::object acquire_result(const state::AcquireResult& r, const std::string& name) {
  json::object out{{"granted", r.granted}, {"name", name}};
  if (r.granted && r.lease) {
    for (auto& [k, v] : lease_json(*r.lease)) out[k] = v;
    if (r.replayed) out["replayed"] = true;
    if (r.already_held) out["already_held"] = true;
    return out;
  }
  json::array holders;
  for (const auto& h : r.holders) holders.push_back(lease_json(h));
  if (!r.holders.empty()) {
    out["holder"] = r.holders.front().holder;
    out["expires_at"] = r.holders.front().expires_at_ms;
  }
  out["holders"] = std::move(holders);
  return out;
}

std::string acquire_text(const json::object& out) {
  if (out.at("granted").as_bool()) {
    return "granted " + std::string(out.at("name").as_string()) + " token " +
           std::to_string(out.at("token").as_int64()) + " lease_id " +
           std::string(out.at("lease_id").as_string()) + "\n" + json::serialize(out);
  }
  std::string text = "refused: " + std::string(out.at("name").as_string());
  if (out.contains("holder")) {
    text += " is held by " + std::string(out.at("holder").as_string()) +
            " until " + std::to_string(out.at("expires_at").as_int64()) + " (ms epoch)";
  }
  return text + "\n" + json::serialize(out);
}

}  // namespace

void register_lease_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  json::object lease = lease_schema();

  json::object acquire_out = schema(R"({
    "type": "object",
    "properties": {
      "granted": {"type": "boolean"},
      "name": {"type": "string"},
      "lease_id": {"type": "string"},
      "holder": {"type": "string", "description": "granted: you; refused: the first holder in the way"},
      "mode": {"type": "string", "enum": ["exclusive", "shared"]},
      "token": {"type": "integer", "description": "fencing token: pass it as fence {name, token} to writes"},
      "ttl_ms": {"type": "integer"},
      "acquired_at": {"type": "integer"},
      "expires_at": {"type": "integer", "description": "ms since the Unix epoch, server clock"},
      "replayed": {"type": "boolean", "description": "answered from an earlier call with this request_id"},
      "already_held": {"type": "boolean"},
      "holders": {"type": "array", "items": {}}
    },
    "required": ["granted", "name"]
  })");
  acquire_out["properties"].as_object()["holders"].as_object()["items"] = lease;

  registry.add(mcp::Tool{
      .name = "lease_acquire",
      .title = "Acquire a lease",
      .description =
          std::string("Take a TTL-bound exclusive or shared hold on a name (") +
          std::string(kNameDoc) +
          "). Returns a fencing token that increases with every grant. On conflict "
          "returns granted:false with the holder and its expiry, or waits up to "
          "wait_ms. A retry with the same request_id returns the same grant.",
      .input_schema = schema(R"({
        "type": "object",
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 4096},
          "ttl_ms": {"type": "integer", "minimum": 1, "description": "default: the config key lease.default_ttl_ms"},
          "mode": {"type": "string", "enum": ["exclusive", "shared"], "default": "exclusive"},
          "wait_ms": {"type": "integer", "minimum": 0, "default": 0},
          "request_id": {"type": "string", "minLength": 1, "maxLength": 256},
          "reason": {"type": "string", "maxLength": 1024}
        },
        "required": ["name"],
        "additionalProperties": false
      })"),
      .output_schema = acquire_out,
      .annotations = {.read_only = false, .destructive = false, .idempotent = false},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          state::AcquireRequest req;
          req.name = arg_string(args, "name");
          req.ttl_ms = arg_opt_int(args, "ttl_ms").value_or(env->lease_default_ttl_ms);
          req.mode = arg_string(args, "mode", "exclusive") == "shared"
                         ? state::LeaseMode::kShared
                         : state::LeaseMode::kExclusive;
          req.wait_ms = arg_opt_int(args, "wait_ms").value_or(0);
          req.request_id = arg_opt_string(args, "request_id");
          req.reason = arg_string(args, "reason");
          auto result = env->store->acquire_lease(env->principal(ctx), req,
                                                  ctx.cancelled ? ctx.cancelled : state::CancelCheck{});
          std::string name = result.lease ? result.lease->name : req.name;
          json::object out = acquire_result(result, name);
          std::string text = acquire_text(out);
          return mcp::ToolResult{std::move(out), std::move(text)};
        });
      }});

  registry.add(mcp::Tool{
      .name = "lease_renew",
      .title = "Renew a lease",
      .description =
          "Extend a live lease you hold by the TTL it was first granted, counted from "
          "now. A lease that has expired is gone for good (error EXPIRED): acquire "
          "again and use the new token.",
      .input_schema = schema(R"({
        "type": "object",
        "properties": {
          "name": {"type": "string", "minLength": 1},
          "lease_id": {"type": "string", "minLength": 1}
        },
        "required": ["name", "lease_id"],
        "additionalProperties": false
      })"),
      .output_schema = lease,
      .annotations = {.read_only = false, .destructive = false, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          auto info = env->store->renew_lease(env->principal(ctx), arg_string(args, "name"),
                                              arg_string(args, "lease_id"));
          json::object out = lease_json(info);
          return mcp::ToolResult{out, "renewed until " + std::to_string(info.expires_at_ms) +
                                          " (ms epoch)\n" + json::serialize(out)};
        });
      }});

  registry.add(mcp::Tool{
      .name = "lease_release",
      .title = "Release a lease",
      .description =
          "Give up a lease you hold. Idempotent: releasing a lease that is already "
          "gone succeeds with outcome already_released (or expired). force:true "
          "releases someone else's lease and needs the lease.force capability.",
      .input_schema = schema(R"({
        "type": "object",
        "properties": {
          "name": {"type": "string", "minLength": 1},
          "lease_id": {"type": "string"},
          "force": {"type": "boolean", "default": false}
        },
        "required": ["name"],
        "additionalProperties": false
      })"),
      .output_schema = schema(R"({
        "type": "object",
        "properties": {
          "released": {"type": "boolean", "description": "true when this call ended the hold"},
          "outcome": {"type": "string", "enum": ["released", "already_released", "expired"]},
          "name": {"type": "string"}
        },
        "required": ["released", "outcome", "name"]
      })"),
      .annotations = {.read_only = false, .destructive = true, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          std::string name = arg_string(args, "name");
          std::string lease_id = arg_string(args, "lease_id");
          bool force = arg_bool(args, "force", false);
          if (lease_id.empty() && !force) {
            throw mcp::ToolError("INVALID_ARGUMENT", "lease_id is required unless force is true");
          }
          auto outcome = env->store->release_lease(env->principal(ctx), name, lease_id, force);
          json::object out{{"released", outcome == state::ReleaseOutcome::kReleased},
                           {"outcome", state::to_string(outcome)},
                           {"name", name}};
          return mcp::ToolResult{out, std::string(state::to_string(outcome)) + ": " + name};
        });
      }});

  json::object list_out = schema(R"({
    "type": "object",
    "properties": {"leases": {"type": "array"}},
    "required": ["leases"]
  })");
  list_out["properties"].as_object()["leases"].as_object()["items"] = lease;
  registry.add(mcp::Tool{
      .name = "lease_list",
      .title = "List live leases",
      .description = "Live leases of this project whose name starts with prefix, by name.",
      .input_schema = schema(R"({
        "type": "object",
        "properties": {"prefix": {"type": "string"}},
        "additionalProperties": false
      })"),
      .output_schema = list_out,
      .annotations = {.read_only = true, .destructive = false, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          const state::Principal who = env->principal(ctx);
          env->store->scavenge_dead_agents(who);  // a gone agent's holds are not live
          auto leases = env->store->list_leases(who, arg_string(args, "prefix"));
          json::array arr;
          std::string text;
          for (const auto& l : leases) {
            arr.push_back(lease_json(l));
            text += l.name + "  " + std::string(state::to_string(l.mode)) + "  " + l.holder +
                    "  token " + std::to_string(l.token) + "  expires " +
                    std::to_string(l.expires_at_ms) + "\n";
          }
          if (text.empty()) text = "no live leases\n";
          return mcp::ToolResult{json::object{{"leases", std::move(arr)}}, text};
        });
      }});
}

}  // namespace keel::tools

// agent_list, agent_heartbeat, agent_suspend, agent_resume, lease_adopt: the
// agent registry and agent liveness. The rules live in state/ (Store).
#include <boost/json.hpp>

#include "tools/tool_support.h"
#include "tools/tools.h"

namespace keel::tools {

namespace json = boost::json;

namespace {

json::object agent_json(const state::AgentInfo& a) {
  json::array leases;
  for (const auto& n : a.leases) leases.emplace_back(n);
  json::object o{{"name", a.name},
                 {"product", a.product},
                 {"host", a.host},
                 {"pid", a.pid},
                 {"session_id", a.session_id},
                 {"client", a.client},
                 {"started_at", a.started_at_ms},
                 {"last_seen", a.last_seen_ms},
                 {"status", state::to_string(a.status)},
                 {"leases", std::move(leases)}};
  if (!a.suspend_reason.empty()) o["reason"] = a.suspend_reason;
  return o;
}

std::string agent_line(const state::AgentInfo& a) {
  std::string line = a.name + "  " + std::string(state::to_string(a.status));
  if (a.pid != 0) line += "  pid " + std::to_string(a.pid) + "@" + a.host;
  line += "  leases " + std::to_string(a.leases.size());
  for (const auto& n : a.leases) line += " " + n;
  if (!a.suspend_reason.empty()) line += "  (suspended: " + a.suspend_reason + ")";
  return line + "\n";
}

json::object agent_schema() {
  return schema(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string"},
      "product": {"type": "string", "description": "claude-code, codex, gemini ...; empty when unknown"},
      "host": {"type": "string"},
      "pid": {"type": "integer", "description": "the agent's process; 0 when keel does not know it"},
      "session_id": {"type": "string"},
      "client": {"type": "string"},
      "started_at": {"type": "integer"},
      "last_seen": {"type": "integer"},
      "status": {"type": "string", "enum": ["active", "suspended", "gone"]},
      "reason": {"type": "string"},
      "leases": {"type": "array", "items": {"type": "string"}}
    },
    "required": ["name", "status", "leases"]
  })");
}

}  // namespace

void register_agent_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  json::object list_out = schema(R"({
    "type": "object",
    "properties": {"agents": {"type": "array"}},
    "required": ["agents"]
  })");
  list_out["properties"].as_object()["agents"].as_object()["items"] = agent_schema();
  registry.add(mcp::Tool{
      .name = "agent_list",
      .title = "List agents",
      .description =
          "The agents working on this project: name, product, host, pid, session, when "
          "started and last seen, status (active, suspended, gone) and the leases each "
          "holds. Gone agents only with include_gone.",
      .input_schema = schema(R"({
        "type": "object",
        "properties": {"include_gone": {"type": "boolean", "default": false}},
        "additionalProperties": false
      })"),
      .output_schema = list_out,
      .annotations = {.read_only = true, .destructive = false, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          auto agents = env->store->list_agents(env->principal(ctx), arg_bool(args, "include_gone", false));
          json::array arr;
          std::string text;
          for (const auto& a : agents) {
            arr.push_back(agent_json(a));
            text += agent_line(a);
          }
          if (text.empty()) text = "no agents\n";
          return mcp::ToolResult{json::object{{"agents", std::move(arr)}}, text};
        });
      }});

  json::object lease = lease_schema();
  json::object heartbeat_out = schema(R"({
    "type": "object",
    "properties": {"renewed": {"type": "array"}, "at": {"type": "integer"}},
    "required": ["renewed", "at"]
  })");
  heartbeat_out["properties"].as_object()["renewed"].as_object()["items"] = lease;
  registry.add(mcp::Tool{
      .name = "agent_heartbeat",
      .title = "Prove you are alive",
      .description =
          "Renew every lease you hold by its TTL and record that you are alive. An agent "
          "on another machine (over HTTP) calls it well within its leases' TTL; an agent "
          "on this machine needs none: keel sees its process.",
      .input_schema = schema(R"({"type": "object", "properties": {}, "additionalProperties": false})"),
      .output_schema = heartbeat_out,
      .annotations = {.read_only = false, .destructive = false, .idempotent = true},
      .handler = [env](const json::object&, const mcp::CallContext& ctx) {
        return guarded([&] {
          auto r = env->store->heartbeat(env->principal(ctx));
          json::array arr;
          for (const auto& l : r.renewed) arr.push_back(lease_json(l));
          const std::size_t n = arr.size();
          return mcp::ToolResult{json::object{{"renewed", std::move(arr)}, {"at", r.at_ms}},
                                 "renewed " + std::to_string(n) + " lease(s)"};
        });
      }});

  registry.add(mcp::Tool{
      .name = "agent_suspend",
      .title = "Suspend an agent",
      .description =
          "Stop an agent that misbehaves: its leases are released, its acquires refused "
          "and its hooks deny every tool call with the reason, until agent_resume. Needs "
          "the agent.admin capability.",
      .input_schema = schema(R"({
        "type": "object",
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 256},
          "reason": {"type": "string", "minLength": 1, "maxLength": 1024}
        },
        "required": ["name", "reason"],
        "additionalProperties": false
      })"),
      .output_schema = agent_schema(),
      .annotations = {.read_only = false, .destructive = true, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          auto a = env->store->suspend_agent(env->principal(ctx), arg_string(args, "name"),
                                             arg_string(args, "reason"));
          return mcp::ToolResult{agent_json(a), "suspended " + agent_line(a)};
        });
      }});

  registry.add(mcp::Tool{
      .name = "agent_resume",
      .title = "Resume an agent",
      .description = "Lift an agent's suspension. Needs the agent.admin capability.",
      .input_schema = schema(R"({
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 256}},
        "required": ["name"],
        "additionalProperties": false
      })"),
      .output_schema = agent_schema(),
      .annotations = {.read_only = false, .destructive = false, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          auto a = env->store->resume_agent(env->principal(ctx), arg_string(args, "name"));
          return mcp::ToolResult{agent_json(a), "resumed " + agent_line(a)};
        });
      }});

  registry.add(mcp::Tool{
      .name = "lease_adopt",
      .title = "Move a lease to another agent",
      .description =
          "Give a live lease (by lease_id, or the only hold on name) to another agent of "
          "the project, with a new, higher fencing token: the old holder's fenced writes "
          "are refused from then on. Needs the lease.force capability.",
      .input_schema = schema(R"({
        "type": "object",
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 1024},
          "lease_id": {"type": "string"},
          "to": {"type": "string", "minLength": 1, "maxLength": 256, "description": "the agent that gets the lease, as agent_list names it"}
        },
        "required": ["name", "to"],
        "additionalProperties": false
      })"),
      .output_schema = lease,
      .annotations = {.read_only = false, .destructive = true, .idempotent = false},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          auto l = env->store->adopt_lease(env->principal(ctx), arg_string(args, "name"),
                                           arg_string(args, "lease_id"), arg_string(args, "to"));
          json::object out = lease_json(l);
          return mcp::ToolResult{out, "adopted: " + l.name + " now held by " + l.holder +
                                          " with token " + std::to_string(l.token) + "\n" +
                                          json::serialize(out)};
        });
      }});
}

}  // namespace keel::tools

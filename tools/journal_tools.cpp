// journal_tail, journal_verify, journal_replay: read the hash-chained record
// of every decision, check it, and fold it back into the live lease set.
#include <boost/json.hpp>

#include "tools/tool_support.h"
#include "tools/tools.h"

namespace keel::tools {

namespace json = boost::json;

json::object verify_json(const state::VerifyReport& r) {
  json::object out{{"ok", r.ok}, {"records", r.records}};
  if (r.first_bad) {
    out["first_bad"] = json::object{{"seq", r.first_bad->seq},
                                    {"kind", r.first_bad->kind},
                                    {"detail", r.first_bad->detail}};
  }
  return out;
}

json::object replay_json(const state::ReplayReport& r) {
  json::array leases, differences;
  for (const auto& l : r.replayed) leases.push_back(lease_json(l));
  for (const auto& d : r.differences) differences.push_back(json::string(d));
  return json::object{{"equal", r.equal},
                      {"at", r.at_ms},
                      {"leases", std::move(leases)},
                      {"table_leases", static_cast<std::int64_t>(r.table.size())},
                      {"differences", std::move(differences)}};
}

void register_journal_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  registry.add(mcp::Tool{
      .name = "journal_tail",
      .title = "Read the journal",
      .description =
          "The newest journal records of this project (every lease, memory and hook "
          "decision), optionally filtered by op (ACQUIRE, RELEASE, REFUSE, MEMORY_PUT...), "
          "subject (exact, or a prefix ending in *) and principal.",
      .input_schema = schema(R"({
        "type": "object",
        "properties": {
          "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
          "op": {"type": "string"},
          "subject": {"type": "string"},
          "principal": {"type": "string"},
          "after_seq": {"type": "integer", "minimum": 0}
        },
        "additionalProperties": false
      })"),
      .output_schema = schema(R"({
        "type": "object",
        "properties": {
          "records": {"type": "array", "items": {
            "type": "object",
            "properties": {
              "seq": {"type": "integer"}, "ts": {"type": "integer"},
              "project": {"type": "string"}, "principal": {"type": "string"},
              "op": {"type": "string"}, "subject": {"type": "string"},
              "payload": {}, "prev_hash": {"type": "string"}, "hash": {"type": "string"}
            },
            "required": ["seq", "ts", "project", "principal", "op", "subject", "payload", "prev_hash", "hash"]}}
        },
        "required": ["records"]
      })"),
      .annotations = {.read_only = true, .destructive = false, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          auto who = env->principal(ctx);
          state::JournalFilter f;
          f.project = who.project;
          f.op = arg_opt_string(args, "op");
          f.subject = arg_opt_string(args, "subject");
          f.principal = arg_opt_string(args, "principal");
          f.after_seq = arg_opt_int(args, "after_seq");
          f.limit = static_cast<int>(arg_opt_int(args, "limit").value_or(20));
          f.newest_first = true;
          auto records = env->store->journal_query(who, f);
          json::array arr;
          std::string text;
          for (const auto& r : records) {
            arr.push_back(record_json(r));
            text += std::to_string(r.seq) + "  " + r.op + "  " + r.subject + "  by " +
                    r.principal + "  " + r.payload + "\n";
          }
          if (text.empty()) text = "no records\n";
          return mcp::ToolResult{json::object{{"records", std::move(arr)}}, std::move(text)};
        });
      }});

  registry.add(mcp::Tool{
      .name = "journal_verify",
      .title = "Verify the journal",
      .description =
          "Walk the hash chain and report whether any record was edited, deleted or "
          "reordered, and the first bad one.",
      .input_schema = schema(R"({"type": "object", "additionalProperties": false})"),
      .output_schema = schema(R"({
        "type": "object",
        "properties": {
          "ok": {"type": "boolean"},
          "records": {"type": "integer"},
          "first_bad": {"type": "object", "properties": {
            "seq": {"type": "integer"}, "kind": {"type": "string"}, "detail": {"type": "string"}},
            "required": ["seq", "kind", "detail"]}
        },
        "required": ["ok", "records"]
      })"),
      .annotations = {.read_only = true, .destructive = false, .idempotent = true},
      .handler = [env](const json::object&, const mcp::CallContext& ctx) {
        return guarded([&] {
          auto r = env->store->journal_verify(env->principal(ctx));
          json::object out = verify_json(r);
          std::string text = r.ok ? "journal intact: " + std::to_string(r.records) + " records"
                                  : "journal BROKEN at seq " + std::to_string(r.first_bad->seq) +
                                        " (" + r.first_bad->kind + "): " + r.first_bad->detail;
          return mcp::ToolResult{std::move(out), std::move(text)};
        });
      }});

  json::object replay_out = schema(R"({
    "type": "object",
    "properties": {
      "equal": {"type": "boolean", "description": "replayed lease set equals the lease table"},
      "at": {"type": "integer"},
      "leases": {"type": "array"},
      "table_leases": {"type": "integer"},
      "differences": {"type": "array", "items": {"type": "string"}}
    },
    "required": ["equal", "at", "leases", "table_leases", "differences"]
  })");
  replay_out["properties"].as_object()["leases"].as_object()["items"] = lease_schema();
  registry.add(mcp::Tool{
      .name = "journal_replay",
      .title = "Replay the journal",
      .description =
          "Fold the journal back into the live lease set and compare it with the lease "
          "table at the same instant. equal:false means the two disagree (differences "
          "say how).",
      .input_schema = schema(R"({"type": "object", "additionalProperties": false})"),
      .output_schema = replay_out,
      .annotations = {.read_only = true, .destructive = false, .idempotent = true},
      .handler = [env](const json::object&, const mcp::CallContext& ctx) {
        return guarded([&] {
          auto r = env->store->journal_replay(env->principal(ctx));
          std::string text = r.equal ? "replay equals the lease table (" +
                                           std::to_string(r.replayed.size()) + " live leases)"
                                     : "replay DIFFERS from the lease table";
          for (const auto& d : r.differences) text += "\n  " + d;
          return mcp::ToolResult{replay_json(r), std::move(text)};
        });
      }});
}

void register_all(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  register_lease_tools(registry, env);
  register_memory_tools(registry, env);
  register_journal_tools(registry, env);
  register_escalation_tools(registry, env);
  register_fanout_tools(registry, env);
  register_agent_tools(registry, env);
}

}  // namespace keel::tools

// memory_get, memory_put, memory_delete, memory_list, memory_search: scoped,
// versioned, audited key/value in the session and cross_run tiers.
#include <boost/json.hpp>

#include "tools/tool_support.h"
#include "tools/tools.h"

namespace keel::tools {

namespace json = boost::json;

namespace {

// Properties every memory tool shares, spliced into each inputSchema.
constexpr std::string_view kScopeProps = R"(
  "tier": {"type": "string", "enum": ["session", "cross_run"], "default": "cross_run",
           "description": "session: lives as long as this session (or its TTL); cross_run: durable"},
  "namespace": {"type": "string", "enum": ["own", "shared"], "default": "own",
                "description": "own: only you can read it; shared: every agent of the project"}
)";

constexpr std::string_view kFenceProp = R"(
  "fence": {"type": "object",
            "description": "refuse the write unless this lease token is the live one: fencing",
            "properties": {"name": {"type": "string", "minLength": 1},
                           "token": {"type": "integer", "minimum": 1}},
            "required": ["name", "token"], "additionalProperties": false}
)";

json::object input(std::string_view own_props, std::initializer_list<std::string_view> required,
                   bool with_fence = false) {
  std::string text = "{\"type\":\"object\",\"properties\":{";
  text += kScopeProps;
  if (!own_props.empty()) text += "," + std::string(own_props);
  if (with_fence) text += "," + std::string(kFenceProp);
  text += "},\"required\":[";
  bool first = true;
  for (auto r : required) {
    text += std::string(first ? "" : ",") + "\"" + std::string(r) + "\"";
    first = false;
  }
  text += "],\"additionalProperties\":false}";
  return schema(text);
}

json::object scope_json(state::Tier tier, state::Namespace ns, std::string_view key) {
  return json::object{{"tier", state::to_string(tier)},
                      {"namespace", state::to_string(ns)},
                      {"key", key}};
}

}  // namespace

void register_memory_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  registry.add(mcp::Tool{
      .name = "memory_get",
      .title = "Read a memory key",
      .description = "Read one key from your own namespace or the project's shared one.",
      .input_schema = input(R"("key": {"type": "string", "minLength": 1})", {"key"}),
      .output_schema = schema(R"({
        "type": "object",
        "properties": {
          "found": {"type": "boolean"},
          "tier": {"type": "string"}, "namespace": {"type": "string"}, "key": {"type": "string"},
          "value": {"description": "any JSON value"},
          "version": {"type": "integer"},
          "updated_at": {"type": "integer"},
          "expires_at": {"type": "integer"}
        },
        "required": ["found", "tier", "namespace", "key"]
      })"),
      .annotations = {.read_only = true, .destructive = false, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          auto tier = arg_tier(args);
          auto ns = arg_namespace(args);
          std::string key = arg_string(args, "key");
          auto r = env->store->memory_get(env->principal(ctx), tier, ns, key);
          json::object out = scope_json(tier, ns, key);
          out["found"] = r.found;
          if (r.found) {
            out["value"] = r.value;
            out["version"] = r.version;
            out["updated_at"] = r.updated_at_ms;
            if (r.expires_at_ms) out["expires_at"] = *r.expires_at_ms;
          }
          // A text-only client (Gemini CLI shows its model only this) must be able to
          // compare-and-set from what it read: the text carries the version too.
          std::string text = r.found ? key + " version " + std::to_string(r.version) +
                                           " (expected_version " + std::to_string(r.version) +
                                           " updates it only if unchanged):\n" +
                                           json::serialize(r.value)
                                     : "not found: " + key + " (expected_version 0 creates it)";
          return mcp::ToolResult{std::move(out), std::move(text)};
        });
      }});

  registry.add(mcp::Tool{
      .name = "memory_put",
      .title = "Write a memory key",
      .description =
          "Write any JSON value under a key. Each write bumps the key's version; "
          "expected_version makes it a compare-and-set (0 = the key must not exist). "
          "ttl_ms expires it. fence {name, token} refuses the write unless that lease "
          "token is the live one. Every write is journaled.",
      .input_schema = input(R"(
          "key": {"type": "string", "minLength": 1},
          "value": {"description": "any JSON value"},
          "expected_version": {"type": "integer", "minimum": 0},
          "ttl_ms": {"type": "integer", "minimum": 1})",
                            {"key", "value"}, /*with_fence=*/true),
      .output_schema = schema(R"({
        "type": "object",
        "properties": {
          "tier": {"type": "string"}, "namespace": {"type": "string"}, "key": {"type": "string"},
          "version": {"type": "integer"},
          "expires_at": {"type": "integer"}
        },
        "required": ["tier", "namespace", "key", "version"]
      })"),
      .annotations = {.read_only = false, .destructive = true, .idempotent = false},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          state::PutRequest req;
          req.tier = arg_tier(args);
          req.ns = arg_namespace(args);
          req.key = arg_string(args, "key");
          req.value = args.at("value");
          req.expected_version = arg_opt_int(args, "expected_version");
          req.ttl_ms = arg_opt_int(args, "ttl_ms");
          req.fence = arg_fence(args);
          auto r = env->store->memory_put(env->principal(ctx), req);
          json::object out = scope_json(req.tier, req.ns, req.key);
          out["version"] = r.version;
          if (r.expires_at_ms) out["expires_at"] = *r.expires_at_ms;
          return mcp::ToolResult{out, "stored " + req.key + " version " + std::to_string(r.version)};
        });
      }});

  registry.add(mcp::Tool{
      .name = "memory_delete",
      .title = "Delete a memory key",
      .description =
          "Delete a key. Succeeds with deleted:false when there was nothing to delete. "
          "Takes expected_version and fence like memory_put. Journaled.",
      .input_schema = input(R"(
          "key": {"type": "string", "minLength": 1},
          "expected_version": {"type": "integer", "minimum": 0})",
                            {"key"}, /*with_fence=*/true),
      .output_schema = schema(R"({
        "type": "object",
        "properties": {
          "tier": {"type": "string"}, "namespace": {"type": "string"}, "key": {"type": "string"},
          "deleted": {"type": "boolean"}
        },
        "required": ["tier", "namespace", "key", "deleted"]
      })"),
      .annotations = {.read_only = false, .destructive = true, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          state::DeleteRequest req;
          req.tier = arg_tier(args);
          req.ns = arg_namespace(args);
          req.key = arg_string(args, "key");
          req.expected_version = arg_opt_int(args, "expected_version");
          req.fence = arg_fence(args);
          bool deleted = env->store->memory_delete(env->principal(ctx), req);
          json::object out = scope_json(req.tier, req.ns, req.key);
          out["deleted"] = deleted;
          return mcp::ToolResult{out, (deleted ? "deleted " : "nothing to delete: ") + req.key};
        });
      }});

  registry.add(mcp::Tool{
      .name = "memory_list",
      .title = "List memory keys",
      .description =
          "Keys starting with prefix, ascending, one page at a time: pass next_cursor "
          "back as cursor for the next page.",
      .input_schema = input(R"(
          "prefix": {"type": "string"},
          "cursor": {"type": "string"},
          "limit": {"type": "integer", "minimum": 1})",
                            {}),
      .output_schema = schema(R"({
        "type": "object",
        "properties": {
          "entries": {"type": "array", "items": {
            "type": "object",
            "properties": {
              "key": {"type": "string"}, "version": {"type": "integer"},
              "updated_at": {"type": "integer"}, "expires_at": {"type": "integer"},
              "bytes": {"type": "integer"}
            },
            "required": ["key", "version", "updated_at", "bytes"]}},
          "next_cursor": {"type": "string"}
        },
        "required": ["entries"]
      })"),
      .annotations = {.read_only = true, .destructive = false, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          state::ListRequest req;
          req.tier = arg_tier(args);
          req.ns = arg_namespace(args);
          req.prefix = arg_string(args, "prefix");
          req.cursor = arg_string(args, "cursor");
          req.limit = static_cast<int>(arg_opt_int(args, "limit").value_or(0));
          auto r = env->store->memory_list(env->principal(ctx), req);
          json::array entries;
          std::string text;
          for (const auto& e : r.entries) {
            json::object o{{"key", e.key}, {"version", e.version},
                           {"updated_at", e.updated_at_ms}, {"bytes", e.bytes}};
            if (e.expires_at_ms) o["expires_at"] = *e.expires_at_ms;
            entries.push_back(std::move(o));
            text += e.key + "  v" + std::to_string(e.version) + "\n";
          }
          json::object out{{"entries", std::move(entries)}};
          if (!r.next_cursor.empty()) {
            out["next_cursor"] = r.next_cursor;
            text += "(more: cursor " + r.next_cursor + ")\n";
          }
          if (text.empty()) text = "no keys\n";
          return mcp::ToolResult{std::move(out), std::move(text)};
        });
      }});

  registry.add(mcp::Tool{
      .name = "memory_search",
      .title = "Search memory",
      .description =
          "Full-text search over the keys and values you can read (your own namespace "
          "and the shared one), best match first. Plain words; no query syntax needed.",
      .input_schema = schema(R"({
        "type": "object",
        "properties": {
          "query": {"type": "string", "minLength": 1},
          "tier": {"type": "string", "enum": ["session", "cross_run"]},
          "namespace": {"type": "string", "enum": ["own", "shared"]},
          "limit": {"type": "integer", "minimum": 1}
        },
        "required": ["query"],
        "additionalProperties": false
      })"),
      .output_schema = schema(R"({
        "type": "object",
        "properties": {
          "hits": {"type": "array", "items": {
            "type": "object",
            "properties": {
              "tier": {"type": "string"}, "namespace": {"type": "string"},
              "key": {"type": "string"}, "value": {}, "version": {"type": "integer"},
              "score": {"type": "number"}
            },
            "required": ["tier", "namespace", "key", "value", "version", "score"]}}
        },
        "required": ["hits"]
      })"),
      .annotations = {.read_only = true, .destructive = false, .idempotent = true},
      .handler = [env](const json::object& args, const mcp::CallContext& ctx) {
        return guarded([&] {
          state::SearchRequest req;
          req.query = arg_string(args, "query");
          if (auto t = arg_opt_string(args, "tier")) {
            req.tier = *t == "session" ? state::Tier::kSession : state::Tier::kCrossRun;
          }
          if (auto n = arg_opt_string(args, "namespace")) {
            req.ns = *n == "shared" ? state::Namespace::kShared : state::Namespace::kOwn;
          }
          req.limit = static_cast<int>(arg_opt_int(args, "limit").value_or(0));
          auto hits = env->store->memory_search(env->principal(ctx), req);
          json::array arr;
          std::string text;
          for (const auto& h : hits) {
            arr.push_back(json::object{{"tier", state::to_string(h.tier)},
                                       {"namespace", state::to_string(h.ns)},
                                       {"key", h.key},
                                       {"value", h.value},
                                       {"version", h.version},
                                       {"score", h.score}});
            text += std::string(state::to_string(h.ns)) + "/" + h.key + " v" +
                    std::to_string(h.version) + ": " + json::serialize(h.value) + "\n";
          }
          if (text.empty()) text = "no matches\n";
          return mcp::ToolResult{json::object{{"hits", std::move(arr)}}, std::move(text)};
        });
      }});
}

}  // namespace keel::tools

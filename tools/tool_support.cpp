#include "tools/tool_support.h"

#include <stdexcept>

namespace keel::tools {

namespace json = boost::json;

json::object schema(std::string_view json_text) {
  json::value v = json::parse(json_text);
  if (!v.is_object()) throw std::logic_error("tool schema is not a JSON object");
  return v.as_object();
}

std::string arg_string(const json::object& args, std::string_view key,
                       std::string_view fallback) {
  auto it = args.find(key);
  if (it == args.end() || it->value().is_null()) return std::string(fallback);
  return std::string(it->value().as_string());
}

std::optional<std::string> arg_opt_string(const json::object& args, std::string_view key) {
  auto it = args.find(key);
  if (it == args.end() || it->value().is_null()) return std::nullopt;
  return std::string(it->value().as_string());
}

std::optional<std::int64_t> arg_opt_int(const json::object& args, std::string_view key) {
  auto it = args.find(key);
  if (it == args.end() || it->value().is_null()) return std::nullopt;
  return it->value().to_number<std::int64_t>();
}

bool arg_bool(const json::object& args, std::string_view key, bool fallback) {
  auto it = args.find(key);
  if (it == args.end() || it->value().is_null()) return fallback;
  return it->value().as_bool();
}

state::Tier arg_tier(const json::object& args) {
  return arg_string(args, "tier", "cross_run") == "session" ? state::Tier::kSession
                                                            : state::Tier::kCrossRun;
}

state::Namespace arg_namespace(const json::object& args) {
  return arg_string(args, "namespace", "own") == "shared" ? state::Namespace::kShared
                                                          : state::Namespace::kOwn;
}

std::optional<state::Fence> arg_fence(const json::object& args) {
  auto it = args.find("fence");
  if (it == args.end() || it->value().is_null()) return std::nullopt;
  const auto& f = it->value().as_object();
  return state::Fence{std::string(f.at("name").as_string()),
                      f.at("token").to_number<std::int64_t>()};
}

json::object lease_json(const state::LeaseInfo& lease) {
  return json::object{{"lease_id", lease.lease_id},
                      {"name", lease.name},
                      {"holder", lease.holder},
                      {"mode", state::to_string(lease.mode)},
                      {"token", lease.token},
                      {"ttl_ms", lease.ttl_ms},
                      {"acquired_at", lease.acquired_at_ms},
                      {"expires_at", lease.expires_at_ms}};
}

json::object record_json(const state::JournalRecord& r) {
  json::value payload;
  try {
    payload = json::parse(r.payload);
  } catch (const std::exception&) {
    payload = r.payload;  // shown as text when it is not JSON (tampered rows)
  }
  return json::object{{"seq", r.seq},         {"ts", r.ts_ms},
                      {"project", r.project}, {"principal", r.principal},
                      {"op", r.op},           {"subject", r.subject},
                      {"payload", payload},   {"prev_hash", r.prev_hash},
                      {"hash", r.hash}};
}

json::object lease_schema() {
  return schema(R"({
    "type": "object",
    "properties": {
      "lease_id": {"type": "string"},
      "name": {"type": "string"},
      "holder": {"type": "string"},
      "mode": {"type": "string", "enum": ["exclusive", "shared"]},
      "token": {"type": "integer", "description": "fencing token"},
      "ttl_ms": {"type": "integer"},
      "acquired_at": {"type": "integer", "description": "ms since the Unix epoch"},
      "expires_at": {"type": "integer", "description": "ms since the Unix epoch"}
    },
    "required": ["lease_id", "name", "holder", "mode", "token", "ttl_ms", "acquired_at", "expires_at"]
  })");
}

}  // namespace keel::tools

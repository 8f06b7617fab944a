// keel/mcp/era.cpp — modern per-request _meta and result shaping.
#include "mcp/era.h"

#include "mcp/protocol_version.h"
#include "mcp/server.h"

namespace keel::mcp {

namespace json = boost::json;
using jsonrpc::Error;
using jsonrpc::ErrorCode;

namespace {

const json::object* meta_of(const json::object& params) {
  const json::value* m = params.if_contains("_meta");
  return (m != nullptr && m->is_object()) ? &m->get_object() : nullptr;
}

}  // namespace

bool has_modern_meta(const json::object& params) {
  const json::object* meta = meta_of(params);
  return meta != nullptr && meta->contains(kMetaProtocolVersion);
}

std::variant<RequestEra, Error> read_modern_meta(const json::object& params) {
  const json::object* meta = meta_of(params);
  if (meta == nullptr) {
    return Error(ErrorCode::kInvalidParams, "Invalid params: missing _meta");
  }
  const json::value* version = meta->if_contains(kMetaProtocolVersion);
  if (version == nullptr || !version->is_string()) {
    return Error(ErrorCode::kInvalidParams,
                 "Invalid params: _meta[\"" + std::string(kMetaProtocolVersion) +
                     "\"] must be a string");
  }
  if (!is_modern_version(version->get_string())) {
    json::object data;
    data["supported"] = supported_versions_json();
    data["requested"] = version->get_string();
    return Error(ErrorCode::kUnsupportedProtocolVersion, "Unsupported protocol version",
                 json::value(std::move(data)));
  }
  RequestEra era;
  era.modern = true;
  era.protocol_version = std::string(version->get_string());

  const json::value* caps = meta->if_contains(kMetaClientCapabilities);
  if (caps == nullptr || !caps->is_object()) {
    return Error(ErrorCode::kInvalidParams,
                 "Invalid params: _meta[\"" + std::string(kMetaClientCapabilities) +
                     "\"] is required and must be an object");
  }
  era.client_capabilities = caps->get_object();

  if (const json::value* info = meta->if_contains(kMetaClientInfo)) {
    if (!info->is_object()) {
      return Error(ErrorCode::kInvalidParams,
                   "Invalid params: _meta[\"" + std::string(kMetaClientInfo) +
                       "\"] must be an object");
    }
    const json::object& o = info->get_object();
    if (const auto* n = o.if_contains("name"); n != nullptr && n->is_string()) {
      era.client_name = std::string(n->get_string());
    }
    if (const auto* v = o.if_contains("version"); v != nullptr && v->is_string()) {
      era.client_version = std::string(v->get_string());
    }
  }
  if (const json::value* level = meta->if_contains(kMetaLogLevel)) {
    std::optional<LogLevel> parsed;
    if (level->is_string()) parsed = parse_log_level(level->get_string());
    if (!parsed) {
      return Error(ErrorCode::kInvalidParams,
                   "Invalid params: _meta[\"" + std::string(kMetaLogLevel) +
                       "\"] must be one of debug, info, notice, warning, error, critical, "
                       "alert, emergency");
    }
    era.log_level = parsed;
  }
  return era;
}

std::optional<json::value> progress_token(const json::object& params) {
  const json::object* meta = meta_of(params);
  if (meta == nullptr) return std::nullopt;
  const json::value* t = meta->if_contains("progressToken");
  if (t == nullptr) return std::nullopt;
  if (t->is_string() || t->is_int64() || t->is_uint64()) return *t;
  return std::nullopt;
}

void decorate_modern_result(json::object& result, const ServerOptions& options) {
  if (!result.contains("resultType")) result["resultType"] = "complete";
  json::object info;
  info["name"] = options.name;
  info["version"] = options.version;
  json::value& meta = result["_meta"];
  if (!meta.is_object()) meta = json::object();
  meta.get_object()[kMetaServerInfo] = std::move(info);
}

void add_cache_hints(json::object& result, const ServerOptions& options) {
  result["ttlMs"] = options.cache_ttl_ms < 0 ? 0 : options.cache_ttl_ms;
  result["cacheScope"] = "public";
}

}  // namespace keel::mcp

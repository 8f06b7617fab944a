#include "tools/tool_schema.h"

namespace keel::tools::wire::detail {

void fail(const std::string& path, std::string_view what) {
  // As mcp::SchemaError::to_string() says it: the root shows as "/".
  invalid_argument((path.empty() ? std::string("/") : path) + ": " + std::string(what));
}

json::object literal(std::string_view schema) {
  json::value v = json::parse(schema);
  if (!v.is_object()) throw std::logic_error("schema literal is not a JSON object: " + std::string(schema.substr(0, 60)));
  return std::move(v.as_object());
}

std::string child(const std::string& path, std::string_view key) {
  return path + "/" + std::string(key);
}

}  // namespace keel::tools::wire::detail

// keel/mcp/resources_methods.cpp — resources/list, resources/templates/list,
// resources/read, and (2025-11-25 only) resources/subscribe|unsubscribe.
#include <exception>
#include <optional>
#include <string>
#include <variant>

#include "mcp/connection_state.h"
#include "mcp/resources.h"

namespace keel::mcp::detail {

void handle_resources_list(MethodCall& c) {
  c.finish(c.conn.features.resources->list_json(), true);
}

void handle_resource_templates_list(MethodCall& c) {
  c.finish(c.conn.features.resources->list_templates_json(), true);
}

void handle_resources_read(MethodCall& c) {
  auto decoded = decode_read_resource_params(c.params());
  if (auto* err = std::get_if<Error>(&decoded)) {
    c.fail(std::move(*err));
    return;
  }
  const std::string& u = std::get<ReadResourceParams>(decoded).uri;
  std::optional<json::array> contents;
  try {
    contents = c.conn.features.resources->read(u, c.conn.simple_context(c.req, c.era));
  } catch (const std::exception& e) {
    c.fail(ErrorCode::kInvalidParams, std::string("Invalid params: ") + e.what());
    return;
  }
  if (!contents || contents->empty()) {
    json::object data;
    data["uri"] = u;
    c.fail(Error(c.era.modern ? ErrorCode::kInvalidParams : ErrorCode::kResourceNotFound,
                 "Resource not found: " + u, json::value(std::move(data))));
    return;
  }
  c.finish(to_json(ReadResourceResult{std::move(*contents)}), true);
}

// Resources never change under keel, so a subscription has nothing to send.
void handle_resources_subscribe(MethodCall& c) { c.reply(json::object()); }

}  // namespace keel::mcp::detail

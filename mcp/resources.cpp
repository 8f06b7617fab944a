// keel/mcp/resources.cpp — ResourceRegistry.
#include "mcp/resources.h"

namespace keel::mcp {

namespace json = boost::json;

namespace {

void put(json::object& o, std::string_view key, const std::string& v) {
  if (!v.empty()) o[key] = v;
}

// {<list_key>: [{<uri_key>, name, title?, description?, mimeType?}, ...]}
// for resources (uri) and resource templates (uriTemplate).
template <class Item>
json::object described_list(std::string_view list_key, const std::vector<Item>& items,
                            std::string_view uri_key, std::string Item::*uri) {
  json::array list;
  for (const auto& item : items) {
    json::object o;
    o[uri_key] = item.*uri;
    o["name"] = item.name;
    put(o, "title", item.title);
    put(o, "description", item.description);
    put(o, "mimeType", item.mime_type);
    list.push_back(std::move(o));
  }
  json::object out;
  out[list_key] = std::move(list);
  return out;
}

}  // namespace

std::optional<json::array> ResourceRegistry::read(const std::string& uri,
                                                  const CallContext& ctx) const {
  for (const auto& r : resources_) {
    if (r.uri == uri && r.read) return r.read(uri, ctx);
  }
  for (const auto& t : templates_) {
    if (!t.read) continue;
    if (auto c = t.read(uri, ctx)) return c;
  }
  return std::nullopt;
}

json::object ResourceRegistry::list_json() const {
  return described_list("resources", resources_, "uri", &Resource::uri);
}

json::object ResourceRegistry::list_templates_json() const {
  return described_list("resourceTemplates", templates_, "uriTemplate",
                        &ResourceTemplate::uri_template);
}

}  // namespace keel::mcp

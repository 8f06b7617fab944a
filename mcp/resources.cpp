// keel/mcp/resources.cpp — ResourceRegistry.
#include "mcp/resources.h"

namespace keel::mcp {

namespace json = boost::json;

namespace {

void put(json::object& o, std::string_view key, const std::string& v) {
  if (!v.empty()) o[key] = v;
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
  json::array list;
  for (const auto& r : resources_) {
    json::object o;
    o["uri"] = r.uri;
    o["name"] = r.name;
    put(o, "title", r.title);
    put(o, "description", r.description);
    put(o, "mimeType", r.mime_type);
    list.push_back(std::move(o));
  }
  json::object out;
  out["resources"] = std::move(list);
  return out;
}

json::object ResourceRegistry::list_templates_json() const {
  json::array list;
  for (const auto& t : templates_) {
    json::object o;
    o["uriTemplate"] = t.uri_template;
    o["name"] = t.name;
    put(o, "title", t.title);
    put(o, "description", t.description);
    put(o, "mimeType", t.mime_type);
    list.push_back(std::move(o));
  }
  json::object out;
  out["resourceTemplates"] = std::move(list);
  return out;
}

}  // namespace keel::mcp

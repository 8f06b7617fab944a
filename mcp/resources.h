// keel/mcp/resources.h — the MCP "resources" feature: static resources and
// URI templates, listed and read through a registry like ToolRegistry.
//
// keel's own server registers none (and then declares no `resources`
// capability); the conformance fixture server does.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "mcp/tool.h"

namespace keel::mcp {

// Returns the `contents` array of a ReadResourceResult ({uri, mimeType,
// text|blob} objects); nullopt: this template does not serve `uri`.
using ResourceReader =
    std::function<std::optional<boost::json::array>(const std::string& uri, const CallContext& ctx)>;

struct Resource {
  std::string uri{};
  std::string name{};
  std::string title{};
  std::string description{};
  std::string mime_type{};
  ResourceReader read{};
};

struct ResourceTemplate {
  std::string uri_template{};  // RFC 6570, e.g. test://template/{id}/data
  std::string name{};
  std::string title{};
  std::string description{};
  std::string mime_type{};
  ResourceReader read{};  // called with concrete URIs; nullopt = not mine
};

class ResourceRegistry {
 public:
  void add(Resource r) { resources_.push_back(std::move(r)); }
  void add_template(ResourceTemplate t) { templates_.push_back(std::move(t)); }
  const std::vector<Resource>& resources() const { return resources_; }
  const std::vector<ResourceTemplate>& templates() const { return templates_; }
  bool empty() const { return resources_.empty() && templates_.empty(); }
  // The contents of `uri` (an exact resource, else the first template that
  // serves it); nullopt when nothing does.
  std::optional<boost::json::array> read(const std::string& uri, const CallContext& ctx) const;

  boost::json::object list_json() const;            // {resources:[...]}
  boost::json::object list_templates_json() const;  // {resourceTemplates:[...]}

 private:
  std::vector<Resource> resources_;
  std::vector<ResourceTemplate> templates_;
};

}  // namespace keel::mcp

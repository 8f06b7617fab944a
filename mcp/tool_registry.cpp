// keel/mcp/tool_registry.cpp — ToolRegistry: validated, ordered tool set.
#include <stdexcept>

#include "mcp/tool.h"

namespace keel::mcp {

namespace {

// SEP-986: 1–128 characters of A–Z a–z 0–9 _ - .
bool valid_tool_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

void ToolRegistry::add(Tool tool) {
  if (!valid_tool_name(tool.name)) {
    throw std::invalid_argument("invalid tool name '" + tool.name +
                                "' (1-128 characters of A-Z a-z 0-9 _ - .)");
  }
  if (find(tool.name) != nullptr) {
    throw std::invalid_argument("duplicate tool name '" + tool.name + "'");
  }
  if (!tool.handler) throw std::invalid_argument("tool '" + tool.name + "' has no handler");
  if (decorator_) {
    const std::string name = tool.name;
    tool = decorator_(std::move(tool));
    if (tool.name != name || !tool.handler) {
      throw std::logic_error("the tool decorator changed the name or dropped the handler of '" +
                             name + "'");
    }
  }
  // MCP requires inputSchema to be an object schema ({"type":"object"}).
  if (!tool.input_schema.contains("type")) tool.input_schema["type"] = "object";
  tools_.push_back(std::move(tool));
}

const Tool* ToolRegistry::find(std::string_view name) const {
  for (const auto& t : tools_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace keel::mcp

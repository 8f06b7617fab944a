// keel/mcp/prompts.cpp — PromptRegistry.
#include "mcp/prompts.h"

namespace keel::mcp {

namespace json = boost::json;

const Prompt* PromptRegistry::find(std::string_view name) const {
  for (const auto& p : prompts_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

json::object PromptRegistry::list_json() const {
  json::array list;
  for (const auto& p : prompts_) {
    json::object o;
    o["name"] = p.name;
    if (!p.title.empty()) o["title"] = p.title;
    o["description"] = p.description;
    if (!p.arguments.empty()) {
      json::array args;
      for (const auto& a : p.arguments) {
        json::object ao;
        ao["name"] = a.name;
        if (!a.description.empty()) ao["description"] = a.description;
        ao["required"] = a.required;
        args.push_back(std::move(ao));
      }
      o["arguments"] = std::move(args);
    }
    list.push_back(std::move(o));
  }
  json::object out;
  out["prompts"] = std::move(list);
  return out;
}

}  // namespace keel::mcp

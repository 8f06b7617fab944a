// keel/mcp/prompts.h — the MCP "prompts" feature (prompts/list, prompts/get)
// and completion/complete. keel's own server registers no prompts (and then
// declares neither `prompts` nor `completions`); the conformance fixture does.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "mcp/tool.h"

namespace keel::mcp {

struct PromptArgument {
  std::string name{};
  std::string description{};
  bool required = false;
};

// Returns a GetPromptResult ({messages:[...], description?}). May throw
// ToolError to answer -32602 with its message.
using PromptHandler =
    std::function<boost::json::object(const boost::json::object& arguments, const CallContext& ctx)>;

struct Prompt {
  std::string name{};
  std::string title{};
  std::string description{};
  std::vector<PromptArgument> arguments{};
  PromptHandler get{};
};

// completion/complete: ref ({type:"ref/prompt",name} | {type:"ref/resource",uri}),
// the argument being completed and its current value → the values to offer.
using CompletionHandler = std::function<std::vector<std::string>(
    const boost::json::object& ref, const std::string& argument, const std::string& value)>;

class PromptRegistry {
 public:
  void add(Prompt p) { prompts_.push_back(std::move(p)); }
  const std::vector<Prompt>& prompts() const { return prompts_; }
  const Prompt* find(std::string_view name) const;
  bool empty() const { return prompts_.empty(); }
  boost::json::object list_json() const;  // {prompts:[...]}

  // Set to declare `completions`.
  CompletionHandler completion{};

 private:
  std::vector<Prompt> prompts_;
};

}  // namespace keel::mcp

// keel/mcp/prompts_methods.cpp — prompts/list, prompts/get and
// completion/complete (argument completion for prompts).
#include <exception>
#include <string>
#include <variant>
#include <vector>

#include "mcp/connection_state.h"
#include "mcp/prompts.h"

namespace keel::mcp::detail {

constexpr std::size_t kMaxCompletionValues = 100;  // the spec's cap

void handle_prompts_list(MethodCall& c) { c.finish(c.conn.features.prompts->list_json(), true); }

void handle_prompts_get(MethodCall& c) {
  const GetPromptParams p = decode_get_prompt_params(c.params());
  const Prompt* prompt = p.name ? c.conn.features.prompts->find(*p.name) : nullptr;
  if (prompt == nullptr) {
    c.fail(ErrorCode::kInvalidParams, "Invalid params: unknown prompt");
    return;
  }
  for (const auto& pa : prompt->arguments) {
    if (pa.required && !p.arguments.contains(pa.name)) {
      c.fail(ErrorCode::kInvalidParams, "Invalid params: missing argument " + pa.name);
      return;
    }
  }
  json::object result;
  try {
    result = prompt->get(p.arguments, c.conn.simple_context(c.req, c.era));
  } catch (const std::exception& e) {
    c.fail(ErrorCode::kInvalidParams, std::string("Invalid params: ") + e.what());
    return;
  }
  c.finish(std::move(result), false);
}

void handle_complete(MethodCall& c) {
  auto decoded = decode_complete_params(c.params());
  if (auto* err = std::get_if<Error>(&decoded)) {
    c.fail(std::move(*err));
    return;
  }
  const CompleteParams& p = std::get<CompleteParams>(decoded);
  CompleteResult result;
  result.values = c.conn.features.prompts->completion(p.ref, p.argument_name, p.value);
  result.total = result.values.size();
  result.has_more = result.total > kMaxCompletionValues;
  if (result.has_more) result.values.resize(kMaxCompletionValues);
  c.finish(to_json(std::move(result)), false);
}

}  // namespace keel::mcp::detail

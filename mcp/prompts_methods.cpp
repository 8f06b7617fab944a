// keel/mcp/prompts_methods.cpp — prompts/list, prompts/get and
// completion/complete (argument completion for prompts).
#include <exception>
#include <string>
#include <variant>
#include <vector>

#include "mcp/connection_state.h"
#include "mcp/prompts.h"

namespace keel::mcp::detail {

namespace json = boost::json;
using jsonrpc::Error;
using jsonrpc::ErrorCode;

namespace {

// completion/complete {ref, argument: {name, value}}.
struct CompleteParams {
  json::object ref;
  std::string argument_name;
  std::string value;
};

std::variant<CompleteParams, Error> parse_complete(const json::object& params) {
  const json::value* ref = params.if_contains("ref");
  const json::value* arg = params.if_contains("argument");
  if (ref == nullptr || !ref->is_object() || arg == nullptr || !arg->is_object()) {
    return Error(ErrorCode::kInvalidParams,
                 "Invalid params: \"ref\" and \"argument\" are required");
  }
  CompleteParams p;
  p.ref = ref->get_object();
  if (const auto* n = arg->get_object().if_contains("name"); n != nullptr && n->is_string()) {
    p.argument_name = std::string(n->get_string());
  }
  if (const auto* v = arg->get_object().if_contains("value"); v != nullptr && v->is_string()) {
    p.value = std::string(v->get_string());
  }
  return p;
}

constexpr std::size_t kMaxCompletionValues = 100;  // the spec's cap

}  // namespace

void handle_prompts_list(MethodCall& c) { c.finish(c.conn.features.prompts->list_json(), true); }

void handle_prompts_get(MethodCall& c) {
  const json::value* name = c.params().if_contains("name");
  const Prompt* prompt = name != nullptr && name->is_string()
                             ? c.conn.features.prompts->find(name->get_string())
                             : nullptr;
  if (prompt == nullptr) {
    c.fail(ErrorCode::kInvalidParams, "Invalid params: unknown prompt");
    return;
  }
  json::object args;
  if (const auto* a = c.params().if_contains("arguments"); a != nullptr && a->is_object()) {
    args = a->get_object();
  }
  for (const auto& pa : prompt->arguments) {
    if (pa.required && !args.contains(pa.name)) {
      c.fail(ErrorCode::kInvalidParams, "Invalid params: missing argument " + pa.name);
      return;
    }
  }
  json::object result;
  try {
    result = prompt->get(args, c.conn.simple_context(c.req, c.era));
  } catch (const std::exception& e) {
    c.fail(ErrorCode::kInvalidParams, std::string("Invalid params: ") + e.what());
    return;
  }
  c.finish(std::move(result), false);
}

void handle_complete(MethodCall& c) {
  auto parsed = parse_complete(c.params());
  if (auto* err = std::get_if<Error>(&parsed)) {
    c.fail(std::move(*err));
    return;
  }
  const CompleteParams& p = std::get<CompleteParams>(parsed);
  std::vector<std::string> values =
      c.conn.features.prompts->completion(p.ref, p.argument_name, p.value);
  const std::size_t total = values.size();
  if (values.size() > kMaxCompletionValues) values.resize(kMaxCompletionValues);
  json::array arr;
  for (auto& v : values) arr.push_back(json::value(v));
  json::object completion;
  completion["values"] = std::move(arr);
  completion["total"] = total;
  completion["hasMore"] = total > kMaxCompletionValues;
  json::object result;
  result["completion"] = std::move(completion);
  c.finish(std::move(result), false);
}

}  // namespace keel::mcp::detail

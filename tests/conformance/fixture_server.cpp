// keel-conformance-server --http HOST:PORT — the fixture server the official
// MCP conformance suite drives (reference §11): keel's mcp/ library with the
// suite's tools, resources and prompts instead of keel's own tools. Built only
// with the tests; not part of the product binary.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "mcp/http_server.h"
#include "mcp/jsonrpc.h"
#include "mcp/prompts.h"
#include "mcp/request_state.h"
#include "mcp/resources.h"
#include "mcp/server.h"
#include "mcp/subscriptions.h"
#include "mcp/tool.h"

namespace json = boost::json;
using namespace keel::mcp;
using namespace std::chrono_literals;

namespace {

constexpr const char* kPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
constexpr const char* kWav = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

json::object text_block(const std::string& t) { return json::object{{"type", "text"}, {"text", t}}; }
json::object image_block() {
  return json::object{{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}};
}
json::object content_result(json::array content, bool is_error = false) {
  json::object r;
  r["content"] = std::move(content);
  r["isError"] = is_error;
  return r;
}
ToolResult raw(json::object r) {
  ToolResult out;
  out.raw = std::move(r);
  return out;
}
ToolResult text(const std::string& t) { return raw(content_result(json::array{text_block(t)})); }

const json::object kEmptySchema = json::object{{"type", "object"}};

// --- MRTR requestState: payload sealed with an HMAC keyed per process --------

const RequestStateSealer& sealer() {
  static const RequestStateSealer s = RequestStateSealer::random();
  return s;
}

std::string seal(const json::object& payload) { return sealer().seal(payload); }

// The payload of a state this server sealed; -32602 for anything else.
json::object unseal(const std::string& state) { return sealer().open(state); }

ToolResult input_required(json::object requests, const std::optional<json::object>& state) {
  json::object r;
  r["resultType"] = "input_required";
  if (!requests.empty()) r["inputRequests"] = std::move(requests);
  if (state) r["requestState"] = seal(*state);
  return raw(std::move(r));
}

json::object elicit(const std::string& message, const std::string& field, const std::string& type) {
  json::object schema;
  schema["type"] = "object";
  schema["properties"] = json::object{{field, json::object{{"type", type}}}};
  schema["required"] = json::array{json::value(field)};
  return json::object{{"method", "elicitation/create"},
                      {"params", json::object{{"mode", "form"},
                                              {"message", message},
                                              {"requestedSchema", std::move(schema)}}}};
}

json::object sample(const std::string& prompt, int max_tokens) {
  json::array messages;
  messages.push_back(json::object{{"role", "user"}, {"content", text_block(prompt)}});
  return json::object{{"method", "sampling/createMessage"},
                      {"params", json::object{{"messages", std::move(messages)},
                                              {"maxTokens", max_tokens}}}};
}

json::object list_roots() { return json::object{{"method", "roots/list"}, {"params", json::object()}}; }

// The response object under `key`, when present and an object.
const json::object* response(const CallContext& ctx, const std::string& key) {
  const json::object* all = ctx.input_responses.if_object();
  if (all == nullptr) return nullptr;
  const json::value* v = all->if_contains(key);
  return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

// content.<field> of an accepted elicitation, as a string.
std::optional<std::string> elicited(const json::object* r, const std::string& field) {
  if (r == nullptr) return std::nullopt;
  const json::value* action = r->if_contains("action");
  if (action == nullptr || !action->is_string()) return std::nullopt;
  if (action->get_string() != "accept") return std::string("(") + std::string(action->get_string()) + ")";
  const json::value* content = r->if_contains("content");
  if (content == nullptr || !content->is_object()) return std::nullopt;
  const json::value* v = content->get_object().if_contains(field);
  if (v == nullptr) return std::nullopt;
  return v->is_string() ? std::string(v->get_string()) : json::serialize(*v);
}

bool has_cap(const CallContext& ctx, const char* cap) { return ctx.client_capabilities.contains(cap); }

void add(ToolRegistry& reg, std::string name, std::string description, ToolHandler h,
         json::object schema = kEmptySchema) {
  reg.add(Tool{.name = std::move(name),
               .description = std::move(description),
               .input_schema = std::move(schema),
               .handler = std::move(h)});
}

std::shared_ptr<SubscriptionHub>& hub() {
  static auto h = std::make_shared<SubscriptionHub>();
  return h;
}

std::shared_ptr<ToolRegistry> make_tools() {
  auto reg = std::make_shared<ToolRegistry>();
  ToolRegistry& r = *reg;
  add(r, "test_simple_text", "Returns a simple text response",
      [](const json::object&, const CallContext&) {
        return text("This is a simple text response for testing.");
      });
  add(r, "test_image_content", "Returns an image",
      [](const json::object&, const CallContext&) {
        return raw(content_result(json::array{image_block()}));
      });
  add(r, "test_audio_content", "Returns audio", [](const json::object&, const CallContext&) {
    return raw(content_result(
        json::array{json::object{{"type", "audio"}, {"data", kWav}, {"mimeType", "audio/wav"}}}));
  });
  add(r, "test_embedded_resource", "Returns an embedded resource",
      [](const json::object&, const CallContext&) {
        return raw(content_result(json::array{json::object{
            {"type", "resource"},
            {"resource", json::object{{"uri", "test://embedded-resource"},
                                      {"mimeType", "text/plain"},
                                      {"text", "This is an embedded resource content."}}}}}));
      });
  add(r, "test_multiple_content_types", "Returns mixed content",
      [](const json::object&, const CallContext&) {
        return raw(content_result(json::array{
            text_block("Multiple content types test:"), image_block(),
            json::object{{"type", "resource"},
                         {"resource", json::object{{"uri", "test://mixed-content-resource"},
                                                   {"mimeType", "application/json"},
                                                   {"text", "{\"test\":\"data\",\"value\":123}"}}}}}));
      });
  add(r, "test_tool_with_logging", "Logs three messages",
      [](const json::object&, const CallContext& ctx) {
        ctx.log(LogLevel::info, "test", json::value("Tool execution started"));
        std::this_thread::sleep_for(50ms);
        ctx.log(LogLevel::info, "test", json::value("Tool processing data"));
        std::this_thread::sleep_for(50ms);
        ctx.log(LogLevel::info, "test", json::value("Tool execution completed"));
        return text("Tool with logging executed successfully");
      });
  add(r, "test_logging_tool", "Logs (only when the request asked for a level)",
      [](const json::object&, const CallContext& ctx) {
        ctx.log(LogLevel::info, "test", json::value("Logging tool message"));
        return text("Logging tool executed");
      });
  add(r, "test_error_handling", "Always fails", [](const json::object&, const CallContext&) {
    return raw(content_result(json::array{text_block("This tool intentionally returns an error for testing")},
                              true));
  });
  add(r, "test_tool_with_progress", "Reports progress",
      [](const json::object&, const CallContext& ctx) {
        ctx.progress(0, 100, "");
        std::this_thread::sleep_for(50ms);
        ctx.progress(50, 100, "");
        std::this_thread::sleep_for(50ms);
        ctx.progress(100, 100, "");
        return text("Progress tool completed");
      });
  add(r, "test_streaming_elicitation", "Streams notifications, never requests",
      [](const json::object&, const CallContext& ctx) {
        ctx.progress(1, 2, "");
        ctx.progress(2, 2, "");
        return text("Streaming completed");
      });
  add(r, "test_missing_capability", "Needs the client's sampling capability",
      [](const json::object&, const CallContext& ctx) {
        if (!has_cap(ctx, "sampling")) {
          throw ProtocolError(
              static_cast<int>(jsonrpc::ErrorCode::kMissingRequiredClientCapability),
              "Server requires the sampling capability for this request",
              json::object{{"requiredCapabilities", json::object{{"sampling", json::object()}}}});
        }
        return text("Client has sampling");
      });
  // --- server-to-client requests (legacy era) ---
  add(r, "test_sampling", "Asks the client's model (sampling/createMessage)",
      [](const json::object& a, const CallContext& ctx) {
        if (!has_cap(ctx, "sampling")) {
          return raw(content_result(json::array{text_block("The client does not support sampling")}, true));
        }
        const std::string prompt = a.contains("prompt") && a.at("prompt").is_string()
                                       ? std::string(a.at("prompt").as_string())
                                       : "Hello";
        json::value res = ctx.request("sampling/createMessage", sample(prompt, 100).at("params").as_object());
        std::string reply;
        if (const auto* o = res.if_object()) {
          if (const auto* c = o->if_contains("content"); c != nullptr && c->is_object()) {
            if (const auto* t = c->get_object().if_contains("text"); t != nullptr && t->is_string()) {
              reply = std::string(t->get_string());
            }
          }
        }
        return text("LLM response: " + reply);
      },
      obj(R"({"type":"object","properties":{"prompt":{"type":"string"}}})"));
  auto elicitation_tool = [](std::string schema_text, std::string default_message, std::string prefix) {
    return [schema = obj(schema_text), default_message, prefix](const json::object& a,
                                                                const CallContext& ctx) {
      if (!has_cap(ctx, "elicitation")) {
        return raw(content_result(json::array{text_block("The client does not support elicitation")}, true));
      }
      const std::string message = a.contains("message") && a.at("message").is_string()
                                      ? std::string(a.at("message").as_string())
                                      : default_message;
      json::value res = ctx.request("elicitation/create",
                                    json::object{{"message", message}, {"requestedSchema", schema}});
      std::string action = "unknown";
      std::string content = "{}";
      if (const auto* o = res.if_object()) {
        if (const auto* v = o->if_contains("action"); v != nullptr && v->is_string()) {
          action = std::string(v->get_string());
        }
        if (const auto* v = o->if_contains("content")) content = json::serialize(*v);
      }
      if (prefix == "User response") {
        return text("User response: action=" + action + ", content=" + content);
      }
      return text(prefix + ": action=" + action + ", content=" + content);
    };
  };
  add(r, "test_elicitation", "Asks the user (elicitation/create)",
      elicitation_tool(R"({"type":"object","properties":{
          "username":{"type":"string","description":"User's response"},
          "email":{"type":"string","description":"User's email address"}},
          "required":["username","email"]})",
                       "Please provide your information", "User response"),
      obj(R"({"type":"object","properties":{"message":{"type":"string"}}})"));
  add(r, "test_elicitation_sep1034_defaults", "Elicitation with default values (SEP-1034)",
      elicitation_tool(R"({"type":"object","properties":{
          "name":{"type":"string","description":"User name","default":"John Doe"},
          "age":{"type":"integer","description":"User age","default":30},
          "score":{"type":"number","description":"User score","default":95.5},
          "status":{"type":"string","description":"User status","enum":["active","inactive","pending"],
                    "default":"active"},
          "verified":{"type":"boolean","description":"Verification status","default":true}}})",
                       "Please review and update the form fields with defaults", "Elicitation completed"));
  add(r, "test_elicitation_sep1330_enums", "Elicitation with enum variants (SEP-1330)",
      elicitation_tool(R"({"type":"object","properties":{
          "untitledSingle":{"type":"string","description":"Choose an option",
                            "enum":["option1","option2","option3"]},
          "titledSingle":{"type":"string","description":"Choose a titled option",
                          "oneOf":[{"const":"value1","title":"First Option"},
                                   {"const":"value2","title":"Second Option"},
                                   {"const":"value3","title":"Third Option"}]},
          "legacyEnum":{"type":"string","description":"Choose a legacy option",
                        "enum":["opt1","opt2","opt3"],
                        "enumNames":["Option One","Option Two","Option Three"]},
          "untitledMulti":{"type":"array","description":"Choose multiple options",
                           "items":{"type":"string","enum":["option1","option2","option3"]}},
          "titledMulti":{"type":"array","description":"Choose multiple titled options",
                         "items":{"anyOf":[{"const":"value1","title":"First Choice"},
                                           {"const":"value2","title":"Second Choice"},
                                           {"const":"value3","title":"Third Choice"}]}}}})",
                       "Please select options from the enum fields", "Elicitation completed"));
  add(r, "test_trigger_tool_change", "Signals a tool list change to listen streams",
      [](const json::object&, const CallContext&) {
        hub()->notify("tools");
        return text("Tool list change triggered");
      });
  add(r, "test_trigger_prompt_change", "Signals a prompt list change to listen streams",
      [](const json::object&, const CallContext&) {
        hub()->notify("prompts");
        return text("Prompt list change triggered");
      });
  add(r, "json_schema_2020_12_tool", "Has a JSON Schema 2020-12 inputSchema",
      [](const json::object&, const CallContext&) { return text("ok"); },
      obj(R"({"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
              "$defs":{"address":{"type":"object","properties":{"street":{"type":"string"},
                                  "city":{"type":"string"}}}},
              "properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"}},
              "additionalProperties":false})"));

  // --- MRTR (modern era) ---
  add(r, "test_input_required_result_elicitation", "Asks for a name",
      [](const json::object&, const CallContext& ctx) {
        if (auto name = elicited(response(ctx, "user_name"), "name")) return text("Hello, " + *name + "!");
        return input_required(json::object{{"user_name", elicit("What is your name?", "name", "string")}},
                              std::nullopt);
      });
  add(r, "test_input_required_result_sampling", "Asks the client's model",
      [](const json::object&, const CallContext& ctx) {
        if (const json::object* s = response(ctx, "capital_question")) {
          return text("Sampling result: " + json::serialize(*s));
        }
        return input_required(
            json::object{{"capital_question", sample("What is the capital of France?", 100)}},
            std::nullopt);
      });
  add(r, "test_input_required_result_list_roots", "Asks for the client's roots",
      [](const json::object&, const CallContext& ctx) {
        if (const json::object* s = response(ctx, "client_roots")) {
          return text("Client roots: " + json::serialize(*s));
        }
        return input_required(json::object{{"client_roots", list_roots()}}, std::nullopt);
      });
  auto stateful = [](const char* tool) {
    return [tool](const json::object&, const CallContext& ctx) {
      if (!ctx.request_state.empty()) {
        json::object st = unseal(ctx.request_state);  // -32602 when tampered
        if (st["tool"].is_string() && st["tool"].get_string() == tool) {
          if (auto ok = elicited(response(ctx, "confirm"), "ok")) {
            return text("state-ok: confirmed=" + *ok);
          }
        }
      }
      return input_required(json::object{{"confirm", elicit("Please confirm", "ok", "boolean")}},
                            json::object{{"tool", tool}, {"round", 1}});
    };
  };
  add(r, "test_input_required_result_request_state", "Round-trips a protected requestState",
      stateful("test_input_required_result_request_state"));
  add(r, "test_input_required_result_tampered_state", "Rejects a tampered requestState",
      stateful("test_input_required_result_tampered_state"));
  add(r, "test_input_required_result_multiple_inputs", "Asks three things at once",
      [](const json::object&, const CallContext& ctx) {
        if (!ctx.request_state.empty()) unseal(ctx.request_state);
        auto name = elicited(response(ctx, "user_name"), "name");
        const json::object* greeting = response(ctx, "greeting");
        const json::object* roots = response(ctx, "client_roots");
        if (name && greeting && roots && !ctx.request_state.empty()) {
          return text("All inputs received: name=" + *name);
        }
        return input_required(
            json::object{{"user_name", elicit("What is your name?", "name", "string")},
                         {"greeting", sample("Generate a greeting", 50)},
                         {"client_roots", list_roots()}},
            json::object{{"tool", "multiple_inputs"}});
      });
  add(r, "test_input_required_result_multi_round", "Two rounds",
      [](const json::object&, const CallContext& ctx) {
        if (!ctx.request_state.empty()) {
          json::object st = unseal(ctx.request_state);
          const auto round = st["round"].is_int64() ? st["round"].as_int64() : 0;
          if (round == 2) {
            if (auto color = elicited(response(ctx, "step2"), "color")) {
              const std::string name = st["name"].is_string() ? std::string(st["name"].as_string()) : "";
              return text("Hello " + name + ", your favorite color is " + *color);
            }
            return input_required(
                json::object{{"step2", elicit("Step 2: What is your favorite color?", "color", "string")}},
                st);
          }
          if (round == 1) {
            if (auto name = elicited(response(ctx, "step1"), "name")) {
              return input_required(
                  json::object{{"step2", elicit("Step 2: What is your favorite color?", "color", "string")}},
                  json::object{{"round", 2}, {"name", *name}});
            }
          }
        }
        return input_required(json::object{{"step1", elicit("Step 1: What is your name?", "name", "string")}},
                              json::object{{"round", 1}});
      });
  add(r, "test_input_required_result_capabilities", "Asks only for what the client declared",
      [](const json::object&, const CallContext& ctx) {
        json::object requests;
        if (has_cap(ctx, "elicitation") && !response(ctx, "user_input")) {
          requests["user_input"] = elicit("Please provide input", "value", "string");
        }
        if (has_cap(ctx, "sampling") && !response(ctx, "model_input")) {
          requests["model_input"] = sample("Say something", 50);
        }
        if (has_cap(ctx, "roots") && !response(ctx, "client_roots")) {
          requests["client_roots"] = list_roots();
        }
        if (requests.empty()) return text("Capabilities respected");
        return input_required(std::move(requests), std::nullopt);
      });
  return reg;
}

std::shared_ptr<ResourceRegistry> make_resources() {
  auto reg = std::make_shared<ResourceRegistry>();
  auto text_contents = [](std::string uri, std::string mime, std::string t) {
    return json::array{json::object{{"uri", std::move(uri)}, {"mimeType", std::move(mime)}, {"text", std::move(t)}}};
  };
  reg->add(Resource{.uri = "test://static-text",
                    .name = "static-text",
                    .description = "A static text resource",
                    .mime_type = "text/plain",
                    .read = [text_contents](const std::string& uri, const CallContext&) {
                      return std::optional<json::array>(text_contents(
                          uri, "text/plain", "This is the content of the static text resource."));
                    }});
  reg->add(Resource{.uri = "test://static-binary",
                    .name = "static-binary",
                    .description = "A static binary resource",
                    .mime_type = "image/png",
                    .read = [](const std::string& uri, const CallContext&) {
                      return std::optional<json::array>(json::array{json::object{
                          {"uri", uri}, {"mimeType", "image/png"}, {"blob", kPng}}});
                    }});
  reg->add(Resource{.uri = "test://watched-resource",
                    .name = "watched-resource",
                    .description = "A resource to subscribe to",
                    .mime_type = "text/plain",
                    .read = [text_contents](const std::string& uri, const CallContext&) {
                      return std::optional<json::array>(
                          text_contents(uri, "text/plain", "Watched resource content."));
                    }});
  reg->add_template(ResourceTemplate{
      .uri_template = "test://template/{id}/data",
      .name = "template",
      .description = "A resource template",
      .mime_type = "application/json",
      .read = [](const std::string& uri, const CallContext&) -> std::optional<json::array> {
        const std::string prefix = "test://template/";
        const std::string suffix = "/data";
        if (uri.size() <= prefix.size() + suffix.size() || uri.rfind(prefix, 0) != 0 ||
            uri.compare(uri.size() - suffix.size(), suffix.size(), suffix) != 0) {
          return std::nullopt;
        }
        const std::string id = uri.substr(prefix.size(), uri.size() - prefix.size() - suffix.size());
        json::object data{{"id", id}, {"templateTest", true}, {"data", "Data for ID: " + id}};
        return json::array{json::object{
            {"uri", uri}, {"mimeType", "application/json"}, {"text", json::serialize(data)}}};
      }});
  return reg;
}

json::object user(json::object content) {
  return json::object{{"role", "user"}, {"content", std::move(content)}};
}
json::object messages(json::array m) { return json::object{{"messages", std::move(m)}}; }
std::string arg(const json::object& args, const char* name) {
  const json::value* v = args.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : "";
}

std::shared_ptr<PromptRegistry> make_prompts() {
  auto reg = std::make_shared<PromptRegistry>();
  reg->add(Prompt{.name = "test_simple_prompt",
                  .description = "A simple prompt",
                  .get = [](const json::object&, const CallContext&) {
                    return messages(json::array{user(text_block("This is a simple prompt for testing."))});
                  }});
  reg->add(Prompt{.name = "test_prompt_with_arguments",
                  .description = "A prompt with arguments",
                  .arguments = {{"arg1", "First test argument", true}, {"arg2", "Second test argument", true}},
                  .get = [](const json::object& a, const CallContext&) {
                    return messages(json::array{user(text_block(
                        "Prompt with arguments: arg1='" + arg(a, "arg1") + "', arg2='" + arg(a, "arg2") + "'"))});
                  }});
  reg->add(Prompt{.name = "test_prompt_with_embedded_resource",
                  .description = "A prompt with an embedded resource",
                  .arguments = {{"resourceUri", "URI of the resource to embed", true}},
                  .get = [](const json::object& a, const CallContext&) {
                    json::object res{{"type", "resource"},
                                     {"resource", json::object{{"uri", arg(a, "resourceUri")},
                                                               {"mimeType", "text/plain"},
                                                               {"text", "Embedded resource content for testing."}}}};
                    return messages(json::array{user(std::move(res)),
                                                user(text_block("Please process the embedded resource above."))});
                  }});
  reg->add(Prompt{.name = "test_prompt_with_image",
                  .description = "A prompt with an image",
                  .get = [](const json::object&, const CallContext&) {
                    return messages(
                        json::array{user(image_block()), user(text_block("Please analyze the image above."))});
                  }});
  reg->add(Prompt{.name = "test_input_required_result_prompt",
                  .description = "A prompt that asks for context first",
                  .get = [](const json::object&, const CallContext& ctx) -> json::object {
                    if (auto c = elicited(response(ctx, "user_context"), "context")) {
                      return messages(json::array{user(text_block("Prompt context: " + *c))});
                    }
                    json::object r;
                    r["resultType"] = "input_required";
                    r["inputRequests"] = json::object{
                        {"user_context", elicit("What context should the prompt use?", "context", "string")}};
                    return r;
                  }});
  reg->completion = [](const json::object&, const std::string&, const std::string& value) {
    std::vector<std::string> out;
    for (const char* v : {"paris", "park", "party", "test-value"}) {
      if (std::string(v).rfind(value, 0) == 0) out.emplace_back(v);
    }
    return out;
  };
  return reg;
}

}  // namespace

int main(int argc, char** argv) {
  std::string where;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--http") == 0 && i + 1 < argc) where = argv[++i];
  }
  if (where.empty()) {
    std::fprintf(stderr, "usage: keel-conformance-server --http HOST:PORT\n");
    return 2;
  }
  if (const char* lvl = std::getenv("KEEL_LOG")) spdlog::set_level(spdlog::level::from_str(lvl));
  HttpOptions http;
  try {
    parse_host_port(where, http.host, http.port);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "keel-conformance-server: %s\n", e.what());
    return 2;
  }
  ServerOptions options;
  options.name = "keel-conformance";
  options.instructions = "The keel MCP conformance fixture server.";
  McpServer server(options, make_tools(), ServerFeatures{make_resources(), make_prompts(), hub()});
  try {
    return serve_http(server, http);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "keel-conformance-server: %s\n", e.what());
    return 1;
  }
}

// keel/tools/tool_support.h — what the tool files share: declare_tool (a tool
// declared once from its argument and result structs, see tool_schema.h),
// store errors as tool errors, and the shapes of store values that several
// tools return.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "mcp/tool.h"
#include "state/store.h"
#include "tools/tool_error.h"
#include "tools/tool_schema.h"

// The store's enums, spelled on the wire by their to_string().
namespace keel::state {
BOOST_DESCRIBE_ENUM(LeaseMode, kExclusive, kShared)
BOOST_DESCRIBE_ENUM(ReleaseOutcome, kReleased, kAlreadyReleased, kExpired)
BOOST_DESCRIBE_ENUM(Tier, kSession, kCrossRun)
BOOST_DESCRIBE_ENUM(Namespace, kOwn, kShared)
BOOST_DESCRIBE_ENUM(AgentStatus, kActive, kSuspended, kGone)
BOOST_DESCRIBE_ENUM(EscalationImpact, kLow, kHigh)
BOOST_DESCRIBE_ENUM(EscalationDecision, kOverride, kModify, kAbort)
BOOST_DESCRIBE_ENUM(EscalationOutcome, kGranted, kBudgetExhausted)
}  // namespace keel::state

namespace keel::tools {

// Parses a schema written as a JSON literal in the source. Throws on a typo
// (at start-up, so a broken schema never ships silently).
boost::json::object schema(std::string_view json_text);

// `v` as canonical JSON text: object keys sorted bytewise at every level, no
// whitespace, scalars as Boost.JSON serializes them. Equal JSON values in any
// key order give the same text (what a hash of arguments is taken over).
std::string canonical_json(const boost::json::value& v);

// Runs `body`, turning a StoreError into the Failure (a ToolError with the
// store's code) the model sees.
template <class F>
auto guarded(F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const state::StoreError& e) {
    throw Failure(e.code(), e.what(), e.outcome_unknown());
  }
}

// What tools/list shows of a tool besides its schemas.
struct ToolInfo {
  std::string name{};
  std::string title{};
  std::string description{};
  mcp::ToolAnnotations annotations{};
  // For a Result of boost::json::object (a shape built elsewhere): its schema.
  boost::json::object output_schema{};
};

// A typed tool's answer: the structuredContent and its text rendering ("" =
// the serialized value).
template <class Result>
struct Reply {
  Result value{};
  std::string text{};
};

template <class Result>
mcp::ToolResult to_result(Reply<Result> reply) {
  return mcp::ToolResult{wire::encode(reply.value), std::move(reply.text)};
}

template <class Result>
boost::json::object output_schema_of() {
  if constexpr (std::is_same_v<Result, boost::json::object>) {
    return {};
  } else {
    return wire::output_schema<Result>();
  }
}

// A tool declared once: Args and Result are described structs (tool_schema.h)
// that give the inputSchema and outputSchema, the decoding of the arguments
// and the encoding of the result. `handler(const Args&, const
// mcp::CallContext&)` returns a Reply<Result>, or an mcp::ToolResult as-is
// (an InputRequiredResult); a StoreError it throws becomes a Failure.
template <class Args, class Result, class F>
mcp::Tool declare_tool(ToolInfo info, F handler) {
  return mcp::Tool{
      .name = std::move(info.name),
      .title = std::move(info.title),
      .description = std::move(info.description),
      .input_schema = wire::input_schema<Args>(),
      .output_schema = std::is_same_v<Result, boost::json::object>
                           ? std::move(info.output_schema)
                           : output_schema_of<Result>(),
      .annotations = info.annotations,
      .handler = [handler = std::move(handler)](const boost::json::object& raw,
                                                const mcp::CallContext& ctx) -> mcp::ToolResult {
        return guarded([&]() -> mcp::ToolResult {
          const Args args = wire::decode<Args>(raw);
          auto reply = handler(args, ctx);
          if constexpr (std::is_same_v<decltype(reply), mcp::ToolResult>) {
            return reply;
          } else {
            return to_result(std::move(reply));
          }
        });
      }};
}

// The arguments of a tool that takes none.
struct NoArgs {};
BOOST_DESCRIBE_STRUCT(NoArgs, (), ())

// `items`, each made an Out by `f` (a result's list).
template <class Out, class Items, class F>
std::vector<Out> map_to(const Items& items, F f) {
  std::vector<Out> out;
  out.reserve(items.size());
  for (const auto& i : items) out.push_back(f(i));
  return out;
}

// A listing's text: one `line(item)` each, or `none` when there is none.
template <class Items, class Line>
std::string lines_of(const Items& items, Line line, std::string_view none) {
  std::string text;
  for (const auto& i : items) text += line(i);
  return text.empty() ? std::string(none) : text;
}

// A lease as every tool shows it (lease_json, and the outputSchemas that
// embed it).
struct LeaseOut {
  std::string lease_id{};
  std::string name{};
  std::string holder{};
  state::LeaseMode mode = state::LeaseMode::kExclusive;
  std::int64_t token = 0;
  std::int64_t ttl_ms = 0;
  std::int64_t acquired_at = 0;
  std::int64_t expires_at = 0;
  std::int64_t units = 1;
  std::string group_id{};
  static constexpr wire::Doc docs[] = {
      {.name = "token", .description = "fencing token"},
      {.name = "acquired_at", .description = "ms since the Unix epoch"},
      {.name = "expires_at", .description = "ms since the Unix epoch"},
      {.name = "units", .description = "counted names: the units this hold takes (else 1)"},
      {.name = "group_id",
       .description = "the acquire that granted it: lease_release {group_id} releases all its leases"}};
  static LeaseOut of(const state::LeaseInfo& lease);
};
BOOST_DESCRIBE_STRUCT(LeaseOut, (),
                      (lease_id, name, holder, mode, token, ttl_ms, acquired_at, expires_at, units,
                       group_id))
std::vector<LeaseOut> leases_out(const std::vector<state::LeaseInfo>& leases);

boost::json::object lease_json(const state::LeaseInfo& lease);
boost::json::object record_json(const state::JournalRecord& record);

}  // namespace keel::tools

namespace keel::tools {
// Shapes shared by the journal tools and `keel journal verify|replay --json`.
boost::json::object verify_json(const state::VerifyReport& report);
boost::json::object replay_json(const state::ReplayReport& report);
}  // namespace keel::tools

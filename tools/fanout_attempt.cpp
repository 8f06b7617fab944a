// keel/tools/fanout_attempt.cpp — one attempt of one fanout branch: a tool
// call (through mcp::invoke_tool, as tools/call runs it), a command under the
// permission gate, or a sampling request; and how each failure is classified.
#include <cstring>

#include <boost/json.hpp>

#include "mcp/tool_invoke.h"
#include "tools/fanout_engine.h"
#include "tools/tool_error.h"

namespace keel::tools::fanout {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

// stdout as the branch's value: JSON when it is JSON, else the text.
// Returns false when it looks like JSON ({ or [) but does not parse.
bool parse_output(const std::string& out, json::value& value, std::string& why) {
  std::size_t b = out.find_first_not_of(" \t\r\n");
  std::size_t e = out.find_last_not_of(" \t\r\n");
  if (b == std::string::npos) {
    value = json::string();
    return true;
  }
  std::string_view trimmed(out.data() + b, e - b + 1);
  boost::system::error_code ec;
  json::value parsed = json::parse(trimmed, ec);
  if (!ec) {
    value = std::move(parsed);
    return true;
  }
  if (trimmed.front() == '{' || trimmed.front() == '[') {
    why = "output is not valid JSON: " + ec.message();
    return false;
  }
  // Text: keep it as printed, minus the trailing newline(s).
  value = json::string(std::string_view(out.data(), e + 1));
  return true;
}

std::string last_line(const std::string& text) {
  std::size_t e = text.find_last_not_of(" \t\r\n");
  if (e == std::string::npos) return {};
  std::size_t b = text.rfind('\n', e);
  b = b == std::string::npos ? 0 : b + 1;
  std::string line = text.substr(b, e - b + 1);
  if (line.size() > 300) line = line.substr(0, 300) + "...";
  return line;
}

}  // namespace

FanoutRun::Attempt FanoutRun::attempt(std::size_t index, const BranchSpec& spec,
                                      mcp::CallContext& tool_ctx, Clock::time_point& deadline) {
  std::int64_t timeout = spec.timeout_ms.value_or(spec_.branch_timeout_ms);
  deadline = Clock::now() + std::chrono::milliseconds(timeout);
  try {
    switch (spec.kind) {
      case BranchSpec::Kind::kTool: return attempt_tool(spec, tool_ctx, deadline);
      case BranchSpec::Kind::kCommand: return attempt_command(index, spec, deadline);
      case BranchSpec::Kind::kSample: return attempt_sample(spec);
    }
  } catch (const std::exception& e) {
    Attempt a;
    a.code = "INTERNAL";
    a.message = e.what();
    return a;
  }
  return Attempt{};
}

FanoutRun::Attempt FanoutRun::attempt_tool(const BranchSpec& spec, mcp::CallContext& tool_ctx,
                                           Clock::time_point deadline) {
  Attempt a;
  try {
    mcp::ToolOutcome out = services_.registry
                               ? mcp::invoke_tool(*services_.registry, spec.tool, spec.arguments, tool_ctx)
                               : mcp::ToolOutcome{.status = mcp::ToolOutcome::Status::kUnknownTool,
                                                  .code = "UNKNOWN_TOOL",
                                                  .message = "no tool named " + spec.tool};
    switch (out.status) {
      case mcp::ToolOutcome::Status::kUnknownTool:
      case mcp::ToolOutcome::Status::kInvalidArguments:  // no fault of the provider's
        a.code = out.code;
        a.message = out.schema_errors.empty() ? out.message : mcp::join_errors(out.schema_errors, "; ");
        a.count_for_breaker = false;
        return a;
      case mcp::ToolOutcome::Status::kInternal:
        a.code = out.code;
        a.message = out.detail;
        return a;
      case mcp::ToolOutcome::Status::kOk:
        return tool_value(std::move(out.result));
      case mcp::ToolOutcome::Status::kToolError:
        break;
    }
    const std::optional<state::ErrorCode> code = store_code_of(out.error);
    if (code == state::ErrorCode::kCancelled) {  // the branch's own cancelled() said stop
      if (stopping()) {
        a.stopped = true;
      } else {
        a.cls = ErrorClass::kTimeout;
        a.code = "TIMEOUT";
        a.message = "the tool call ran past its branch timeout";
      }
      return a;
    }
    a.cls = code == state::ErrorCode::kBusy               ? ErrorClass::kTransient
            : code == state::ErrorCode::kPermissionDenied ? ErrorClass::kDenied
                                                          : ErrorClass::kOther;
    a.code = out.code;
    a.message = out.message;
    a.count_for_breaker = a.cls != ErrorClass::kDenied;
  } catch (const mcp::ProtocolError& e) {
    a.code = "PROTOCOL_ERROR";
    a.message = e.what();
  }
  if (stopping()) a.stopped = true;
  if (!a.stopped && Clock::now() >= deadline && a.cls == ErrorClass::kOther) {
    a.cls = ErrorClass::kTimeout;
  }
  return a;
}

// A tool's successful result as the branch's value: its structuredContent, or
// its text; a raw result that is an error fails the attempt.
FanoutRun::Attempt FanoutRun::tool_value(mcp::ToolResult r) {
  Attempt a;
  if (r.raw) {
    const json::value* is_error = r.raw->if_contains("isError");
    if (is_error && is_error->is_bool() && is_error->as_bool()) {
      a.code = "TOOL_ERROR";
      a.message = json::serialize(r.raw->if_contains("content") ? r.raw->at("content") : json::value());
      return a;
    }
    const json::value* sc = r.raw->if_contains("structuredContent");
    a.value = sc ? *sc : json::value(*r.raw);
  } else {
    a.value = r.structured.is_null() ? json::value(json::string(r.text)) : std::move(r.structured);
  }
  a.ok = true;
  return a;
}

FanoutRun::Attempt FanoutRun::attempt_command(std::size_t index, const BranchSpec& spec,
                                              Clock::time_point deadline) {
  Attempt a;
  if (services_.gate) {
    CommandVerdict v = services_.gate(services_.principal, spec.command.argv, spec.command.cwd);
    if (!v.allowed) {
      a.cls = ErrorClass::kDenied;
      a.code = "DENIED";
      a.message = v.reason.empty() ? "the permission gate refused the command" : v.reason;
      if (!v.rule_id.empty()) a.message += " (rule " + v.rule_id + ")";
      a.count_for_breaker = false;
      return a;
    }
  }
  CommandLimits limits;
  limits.deadline = deadline;
  limits.max_output_bytes = spec_.max_output_bytes;
  limits.kill_grace = std::chrono::milliseconds(spec_.kill_grace_ms);
  CommandOutcome out = run_command(spec.command, limits, [this] { return stopping(); }, groups_, index);
  if (!out.spawned) {
    a.code = "SPAWN_FAILED";
    a.message = spec.command.argv.front() + ": " + std::strerror(out.spawn_errno);
    return a;
  }
  if (out.stopped || (stopping() && !out.timed_out && out.exit_code != 0)) {
    a.stopped = true;
    return a;
  }
  if (out.timed_out) {
    a.cls = ErrorClass::kTimeout;
    a.code = "TIMEOUT";
    a.message = "killed after " +
                std::to_string(spec.timeout_ms.value_or(spec_.branch_timeout_ms)) + " ms";
    return a;
  }
  if (out.signal) {
    a.code = "SIGNALED";
    a.message = "killed by signal " + std::to_string(out.signal) + " (" + strsignal(out.signal) + ")";
    return a;
  }
  a.exit_code = out.exit_code;
  if (out.exit_code != 0) {
    // 75 is EX_TEMPFAIL (sysexits.h): "try again later".
    a.cls = out.exit_code == 75 ? ErrorClass::kTransient : ErrorClass::kOther;
    a.code = "EXIT_STATUS";
    a.message = "exit status " + std::to_string(out.exit_code);
    if (std::string line = last_line(out.err_tail); !line.empty()) a.message += ": " + line;
    return a;
  }
  std::string why;
  if (!parse_output(out.out, a.value, why)) {
    a.cls = ErrorClass::kParse;
    a.code = "BAD_OUTPUT";
    a.message = why + (out.out_truncated ? " (output truncated at the max_output_bytes limit)" : "");
    return a;
  }
  a.ok = true;
  return a;
}

FanoutRun::Attempt FanoutRun::attempt_sample(const BranchSpec& spec) {
  Attempt a;
  if (!services_.ctx.request) {
    a.code = "UNSUPPORTED";
    a.message = "this connection cannot send requests to the client";
    return a;
  }
  try {
    a.value = services_.ctx.request("sampling/createMessage", spec.sample);
    a.ok = true;
  } catch (const mcp::ProtocolError& e) {
    a.code = "SAMPLING_ERROR";
    a.message = e.what();
  } catch (const std::runtime_error& e) {
    if (stopping()) {
      a.stopped = true;
    } else {
      a.code = "SAMPLING_ERROR";
      a.message = e.what();
    }
  }
  return a;
}

}  // namespace keel::tools::fanout

// keel/observe/request_observer.h — the mcp::RequestObserver of keel serve: every MCP
// request counted (keel_mcp_requests_total, keel_tool_calls_total and their latency
// histograms) and, with tracing on, one SERVER span per request following the
// OpenTelemetry MCP semantic conventions:
//
//   name   "{mcp.method.name} {target}" ("tools/call lease_acquire"), or the method alone
//   attrs  mcp.method.name, mcp.session.id, mcp.protocol.version, jsonrpc.request.id,
//          network.transport, gen_ai.tool.name + gen_ai.operation.name "execute_tool"
//          (tools/call), mcp.resource.uri (resources/*), gen_ai.prompt.name (prompts/get),
//          error.type on failure (the JSON-RPC code, or the tool error's code) with
//          status ERROR
//   parent the traceparent (and tracestate) of params._meta, when valid
//
// Label values are bounded: a method keel does not serve counts as "other", a tool the
// registry does not have is not counted in the tool families.
//
// Thread safety: as mcp::RequestObserver (any thread, never blocks).
#pragma once

#include <memory>

#include "mcp/observer.h"
#include "mcp/tool.h"
#include "observe/telemetry.h"

namespace keel::observe {

// `tools` (may be null: no tool is known) must outlive the observer; the server that
// owns both guarantees it.
std::shared_ptr<mcp::RequestObserver> make_request_observer(std::shared_ptr<Telemetry> telemetry,
                                                            const mcp::ToolRegistry* tools);

// The method label: `method` when it is a method of MCP, else "other".
std::string_view method_label(std::string_view method);

}  // namespace keel::observe

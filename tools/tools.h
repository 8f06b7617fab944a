// keel/tools/tools.h — keel's coordination primitives as MCP tools.
//
// Each primitive has one file (lease_tools.cpp, memory_tools.cpp,
// journal_tools.cpp) holding its JSON Schemas, argument decoding, the call
// into state::Store and the shaping of the result. The files are thin on
// purpose: every rule lives in state/.
//
// Thread safety: the registered handlers are called concurrently by the MCP
// server; they share only the Store (thread-safe) and the resolver.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "mcp/tool.h"
#include "state/store.h"

namespace keel::tools {

// Maps the caller of one MCP request to the principal the store acts for.
// Must be thread-safe.
using PrincipalResolver =
    std::function<state::Principal(const mcp::CallContext& ctx)>;

struct ToolEnv {
  state::Store* store = nullptr;  // not owned; outlives the registry
  PrincipalResolver principal;
  std::int64_t lease_default_ttl_ms = 60'000;
};

void register_lease_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);
void register_memory_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);
void register_journal_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);

// All of the above, in the order tools/list shows them.
void register_all(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);

}  // namespace keel::tools

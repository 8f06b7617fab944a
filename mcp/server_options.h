// keel/mcp/server_options.h — what an McpServer says about itself and the
// limits it applies (name, version, instructions, page size, message size,
// modern-era cache lifetime). Included by server.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace keel::mcp {

struct ServerOptions {
  std::string name = "keel";
  std::string version = "0.1.0";
  std::string instructions;
  std::size_t tools_page_size = 50;          // tools/list page size
  std::size_t max_message_bytes = 4 << 20;   // larger messages: -32600
  // Modern era ttlMs of server/discover and tools/list results (the tool set
  // is fixed for the life of the process).
  std::int64_t cache_ttl_ms = 3'600'000;
};

}  // namespace keel::mcp

// tests/fuzz/mcp_message_fuzz.cpp — libFuzzer target: the JSON-RPC/MCP message
// handler, fed exactly as the stdio transport feeds it (one line per message).
//
// Each input is split at '\n' into messages handed, in order, to one fresh
// Connection (so an input can initialize a legacy session and then call a
// tool). Connection::handle promises never to throw and to answer malformed
// input with a JSON-RPC error; every message it sends must serialize and be a
// JSON object with "jsonrpc": "2.0". Crashes, sanitizer reports and escaping
// exceptions are findings.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <boost/json.hpp>

#include "tests/fuzz/fuzz_server.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& fs = keel::fuzz::fuzz_server();
  auto conn = fs.server->connect(
      [](const boost::json::value& msg) {
        const auto* o = msg.if_object();
        if (o == nullptr) std::abort();  // every message sent is an object
        const auto* v = o->if_contains("jsonrpc");
        if (v == nullptr || !v->is_string() || v->get_string() != "2.0") std::abort();
        (void)boost::json::serialize(msg);
      },
      "fuzz-session");
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    const auto nl = in.find('\n');
    const std::string_view line = in.substr(0, nl);
    if (!line.empty()) conn->handle(line);
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }
  conn->shutdown();
  return 0;
}

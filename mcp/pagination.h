// keel/mcp/pagination.h — opaque list cursors (MCP pagination).
//
// A cursor is base64url("<tag>:<offset>") with no padding. The tag names the
// list (e.g. "tools"), so a cursor of one list is refused by another.
// Anything that does not decode exactly is an invalid cursor (-32602).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace keel::mcp {

std::string encode_cursor(std::string_view tag, std::size_t offset);
std::optional<std::size_t> decode_cursor(std::string_view tag, std::string_view cursor);

}  // namespace keel::mcp

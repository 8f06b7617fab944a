// keel/mcp/hmac.h — HMAC-SHA256 for the MCP layer (MRTR requestState
// integrity), over crypto/sha256 (mcp/ does not depend on state/).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace keel::mcp {

std::array<std::uint8_t, 32> sha256(std::string_view data);
std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view message);
// Lower-case hex of hmac_sha256.
std::string hmac_sha256_hex(std::string_view key, std::string_view message);
// Constant-time equality of two strings (time depends on the lengths only).
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace keel::mcp

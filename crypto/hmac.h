// keel/crypto/hmac.h — HMAC-SHA256 (RFC 2104) and a constant-time compare:
// MRTR requestState integrity and bearer-token checks.
//
// Thread safety: pure functions, safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace keel::crypto {

std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view message);
// Lower-case hex of hmac_sha256 (64 characters).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);
// Equality of two strings whose time depends on the lengths only, never on
// where they first differ.
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace keel::crypto

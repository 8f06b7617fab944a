// keel/mcp/protocol_version.h — the MCP revisions keel speaks, by era.
//
// Modern (per-request _meta, stateless): 2026-07-28.
// Legacy (initialize handshake): 2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>

namespace keel::mcp {

inline constexpr std::string_view kModernVersion = "2026-07-28";
inline constexpr std::string_view kLatestLegacyVersion = "2025-11-25";

// Newest first.
std::span<const std::string_view> modern_versions();
std::span<const std::string_view> legacy_versions();

bool is_modern_version(std::string_view v);
bool is_legacy_version(std::string_view v);

// What initialize answers: the requested version when it is a supported
// legacy version, else the latest legacy one.
std::string negotiate_legacy_version(std::string_view requested);

// Every version served, modern first: ["2026-07-28","2025-11-25",...]
// (server/discover supportedVersions, -32022 data.supported).
boost::json::array supported_versions_json();

}  // namespace keel::mcp

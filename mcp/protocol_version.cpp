// keel/mcp/protocol_version.cpp
#include "mcp/protocol_version.h"

#include <algorithm>
#include <array>

namespace keel::mcp {

namespace {
constexpr std::array<std::string_view, 1> kModern = {kModernVersion};
constexpr std::array<std::string_view, 4> kLegacy = {kLatestLegacyVersion, "2025-06-18",
                                                     "2025-03-26", "2024-11-05"};
}  // namespace

std::span<const std::string_view> modern_versions() { return kModern; }
std::span<const std::string_view> legacy_versions() { return kLegacy; }

bool is_modern_version(std::string_view v) {
  return std::find(kModern.begin(), kModern.end(), v) != kModern.end();
}

bool is_legacy_version(std::string_view v) {
  return std::find(kLegacy.begin(), kLegacy.end(), v) != kLegacy.end();
}

std::string negotiate_legacy_version(std::string_view requested) {
  return std::string(is_legacy_version(requested) ? requested : kLatestLegacyVersion);
}

boost::json::array supported_versions_json() {
  boost::json::array out;
  for (auto v : kModern) out.emplace_back(v);
  for (auto v : kLegacy) out.emplace_back(v);
  return out;
}

}  // namespace keel::mcp

// keel/state/store_common.cpp — see store_common.h.
#include "state/store_common.h"

#include "crypto/sha256.h"

namespace keel::state::store_common {

std::optional<std::string> prefix_successor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xff) s.pop_back();
  if (s.empty()) return std::nullopt;
  s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

void require(const Principal& who, std::string_view capability) {
  if (!who.can(capability)) {
    throw StoreError(ErrorCode::kPermissionDenied,
                     "principal '" + who.agent + "' lacks the capability '" +
                         std::string(capability) + "'");
  }
}

std::filesystem::path suspension_marker_path(const std::filesystem::path& state_dir,
                                             std::string_view project, std::string_view agent) {
  std::string key(project);
  key += '\0';
  key += agent;
  return state_dir / "agents" / (crypto::sha256_hex(key).substr(0, 32) + ".suspended");
}

std::filesystem::path release_ask_marker_path(const std::filesystem::path& state_dir,
                                              std::string_view project, std::string_view agent) {
  std::string key(project);
  key += '\0';
  key += agent;
  return state_dir / "agents" / (crypto::sha256_hex(key).substr(0, 32) + ".asks");
}

}  // namespace keel::state::store_common

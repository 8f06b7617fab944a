// keel/state/lease_name.cpp
#include "state/lease_name.h"

#include <vector>

namespace keel::state {
namespace {

constexpr std::string_view kFilePrefix = "file:";
constexpr std::string_view kDirPrefix = "dir:";

[[noreturn]] void invalid(const std::string& why) {
  throw StoreError(ErrorCode::kInvalidArgument, "invalid lease name: " + why);
}

// Lexical normalization of an absolute path. Result starts with "/" and has
// no trailing "/" except for the root itself.
std::string normalize_path(std::string_view path) {
  if (path.empty() || path.front() != '/') invalid("path must be absolute");
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    std::size_t j = i;
    while (j < path.size() && path[j] != '/') ++j;
    const std::string_view part = path.substr(i, j - i);
    if (part.empty() || part == ".") {
      // skip
    } else if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else {
      parts.push_back(part);
    }
    i = j;
  }
  std::string out;
  for (const std::string_view part : parts) {
    out += '/';
    out += part;
  }
  return out.empty() ? std::string("/") : out;
}

}  // namespace

std::string normalize_lease_name(std::string_view name) {
  if (name.empty()) invalid("empty");
  if (name.size() > kMaxLeaseNameBytes) {
    invalid("longer than " + std::to_string(kMaxLeaseNameBytes) + " bytes");
  }
  if (name.find('\0') != std::string_view::npos) invalid("contains NUL");

  std::string out;
  if (name.starts_with(kFilePrefix)) {
    const std::string path = normalize_path(name.substr(kFilePrefix.size()));
    out = std::string(kFilePrefix) + path;
  } else if (name.starts_with(kDirPrefix)) {
    std::string path = normalize_path(name.substr(kDirPrefix.size()));
    if (path.back() != '/') path += '/';
    out = std::string(kDirPrefix) + path;
  } else {
    return std::string(name);
  }
  if (out.size() > kMaxLeaseNameBytes) {
    invalid("longer than " + std::to_string(kMaxLeaseNameBytes) + " bytes");
  }
  return out;
}

LeaseNameKind lease_name_kind(std::string_view normalized) {
  if (normalized.starts_with(kFilePrefix)) return LeaseNameKind::kFile;
  if (normalized.starts_with(kDirPrefix)) return LeaseNameKind::kDir;
  return LeaseNameKind::kFree;
}

bool lease_names_overlap(std::string_view a, std::string_view b) {
  if (a == b) return true;
  const LeaseNameKind ka = lease_name_kind(a);
  const LeaseNameKind kb = lease_name_kind(b);
  if (ka == LeaseNameKind::kFree || kb == LeaseNameKind::kFree) return false;
  if (ka == LeaseNameKind::kFile && kb == LeaseNameKind::kFile) return false;
  if (ka == LeaseNameKind::kFile) return lease_names_overlap(b, a);
  // a is a dir ("/x/y/"); b is a file or a dir.
  const std::string_view dir = a.substr(kDirPrefix.size());
  if (kb == LeaseNameKind::kDir) {
    const std::string_view other = b.substr(kDirPrefix.size());
    return other.starts_with(dir) || dir.starts_with(other);
  }
  // A file path is inside the dir when "<path>/" starts with the dir, which
  // also places file:/a inside dir:/a/.
  std::string file_as_dir(b.substr(kFilePrefix.size()));
  file_as_dir += '/';
  return std::string_view(file_as_dir).starts_with(dir);
}

bool lease_modes_conflict(LeaseMode held, LeaseMode wanted) {
  return held == LeaseMode::kExclusive || wanted == LeaseMode::kExclusive;
}

LeaseName LeaseName::parse(std::string_view raw) {
  return LeaseName(normalize_lease_name(raw));
}

}  // namespace keel::state

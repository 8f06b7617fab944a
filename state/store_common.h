// keel/state/store_common.h — pure helpers both backends (sqlite_store_*.cpp,
// pg_store_*.cpp) share. Nothing here touches a database.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "state/principal.h"

namespace keel::state::store_common {

// The smallest string greater than every string that starts with `prefix`
// (byte order), or nullopt when there is none (empty prefix, all 0xff).
std::optional<std::string> prefix_successor(std::string_view prefix);

// Throws StoreError(kPermissionDenied) unless who can `capability`.
void require(const Principal& who, std::string_view capability);

// Where the hook's suspension marker of `agent` in `project` lives under a
// state directory (state/store.h suspended_reason). Both backends write it;
// one formula, so the hook finds what either wrote.
std::filesystem::path suspension_marker_path(const std::filesystem::path& state_dir,
                                             std::string_view project, std::string_view agent);

// Where the marker that says "release asks wait for `agent`" lives: written
// (empty file) by ask_release, removed by take_release_asks, so that the
// hook opens the store for them only when there are some (one failed stat()
// otherwise). Same directory scheme as the suspension marker.
std::filesystem::path release_ask_marker_path(const std::filesystem::path& state_dir,
                                              std::string_view project, std::string_view agent);

}  // namespace keel::state::store_common

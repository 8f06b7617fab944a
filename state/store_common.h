// keel/state/store_common.h — pure helpers both backends (sqlite_store_*.cpp,
// pg_store_*.cpp) share. Nothing here touches a database.
#pragma once

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

}  // namespace keel::state::store_common

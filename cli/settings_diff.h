// keel/cli/settings_diff.h — a unified diff of two texts, what
// `keel install --dry-run` prints for each settings file it would change.
// Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace keel::cli {

// "--- a\n+++ b\n@@ -l,n +l,n @@\n …" with `context` lines around each change;
// "" when the texts are equal. Line-based: a missing final newline is not shown.
// Large middles (beyond a few million line pairs after the common prefix and
// suffix) are shown as all removed and all added rather than minimised.
std::string unified_diff(std::string_view before, std::string_view after, std::string_view label_before,
                         std::string_view label_after, std::size_t context = 3);

}  // namespace keel::cli

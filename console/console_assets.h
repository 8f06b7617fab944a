// keel/console/console_assets.h — the console's page, script and style, embedded in
// the binary at build time (cmake/embed-assets.cmake over console/assets/).
#pragma once

#include <optional>
#include <string_view>

namespace keel::console {

// The bytes of asset `name` ("index.html", "app.js", "app.css"), or nullopt.
// Static storage: valid for the whole program.
std::optional<std::string_view> embedded_asset(std::string_view name);

}  // namespace keel::console

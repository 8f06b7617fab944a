// keel/cli/settings_toml.h — keel's table in Codex's config.toml, edited as
// text (no TOML library): keel writes one self-contained block between two
// marker comments and, on later runs, replaces or removes only that block and
// any hand-written [mcp_servers.keel] table (with its [mcp_servers.keel.*]
// sub-tables). Every other byte of the file stays as it was.
//
// Refused with SettingsError (nothing to write): keel's server defined in a
// form a block cannot replace without producing a duplicate key — a `keel`
// key inside an [mcp_servers] table, a dotted `mcp_servers.keel…` key or an
// inline `mcp_servers = {…keel…}` — and a start marker without an end marker.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace keel::cli {

inline constexpr std::string_view kTomlBlockBegin = "# >>> keel";
inline constexpr std::string_view kTomlBlockEnd = "# <<< keel";

// A TOML basic string ("…" with escapes) holding `s`.
std::string toml_string(std::string_view s);

// The [mcp_servers.keel] block, markers and final newline included.
std::string codex_keel_block(const std::string& binary);

// `text` with keel's block(s) replaced by `block`, appended when there was
// none; with an empty `block`, removed. `where` names the file in errors.
std::string toml_set_keel_block(std::string_view text, std::string_view block, std::string_view where);

}  // namespace keel::cli

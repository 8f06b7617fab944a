// keel/cli/settings_file.h — reading and atomically replacing an agent's
// settings file, keeping a backup of what was there.
//
// Contract:
// - A replacement is a temporary file in the same directory, fsync'd and
//   renamed over the target, so an agent reading the file concurrently sees
//   the old or the new content, never a mix. The target keeps its permission
//   bits (~/.claude.json is private). A symlinked target is written through
//   (the link stays, its target changes). Missing parent directories are
//   created.
// - Before an existing file is replaced or removed, its exact bytes are copied
//   to `<file>.keel-backup-<UTC yyyymmddThhmmssZ>` (a `-N` suffix when that
//   name is taken) with the same permission bits.
// Errors throw SettingsError naming the file. Not safe against another
// process editing the same file at the same moment (nothing is).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace keel::cli {

// The file's bytes; nullopt when it does not exist.
std::optional<std::string> read_settings_file(const std::filesystem::path& path);

// Writes `content` to `path`; returns the backup's path, or empty when there
// was no previous file.
std::filesystem::path replace_settings_file(const std::filesystem::path& path, std::string_view content);

// Removes `path` after backing it up; returns the backup's path.
std::filesystem::path remove_settings_file(const std::filesystem::path& path);

}  // namespace keel::cli

// keel/cli/settings_json.h — reading and writing an agent's JSON settings file
// (Claude's settings.json and .mcp.json, Codex's hooks.json, Gemini's
// settings.json, Cursor's hooks.json and mcp.json) so that `keel install` can
// change keel's own entries and leave everything else as the user wrote it.
//
// Contract:
// - parse_settings_json accepts strict JSON, and also comments and trailing
//   commas (Gemini and VS Code-style editors allow them); `lenient` then tells
//   the caller that rewriting the file drops those comments. The root must be
//   an object; an empty or whitespace-only file is an empty object. Anything
//   else throws SettingsError naming the file — the caller writes nothing.
// - render_settings_json prints like JavaScript's JSON.stringify(v, null,
//   indent) (what these agents write themselves), keeping key order, with the
//   indentation and final newline of the original file, so a change to one
//   key shows as a small diff.
// Pure functions; thread-safe.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/json.hpp>

namespace keel::cli {

// An agent settings file keel install cannot read or safely change.
class SettingsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ParsedSettings {
  boost::json::object root;
  bool lenient = false;             // needed comments/trailing commas to parse
  std::string indent = "  ";        // the file's indentation unit (two spaces if unknown)
  bool trailing_newline = true;     // the file ended with '\n' (new files do)
};

// `where` names the file in error messages.
ParsedSettings parse_settings_json(std::string_view text, std::string_view where);

std::string render_settings_json(const boost::json::value& v, const std::string& indent,
                                 bool trailing_newline);

}  // namespace keel::cli

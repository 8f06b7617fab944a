// keel's [mcp_servers.keel] block in Codex's config.toml, edited line by line.
#include "cli/settings_toml.h"

#include <cstdio>
#include <optional>
#include <vector>

#include "cli/settings_json.h"

namespace keel::cli {

namespace {

std::string_view trim(std::string_view s) {
  std::size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  std::size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::size_t count_of(std::string_view s, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t p = s.find(needle); p != std::string_view::npos; p = s.find(needle, p + needle.size())) ++n;
  return n;
}

// "[ mcp_servers . \"keel\" ]" -> "mcp_servers.keel"; nullopt when the line is
// not a table header. Array-of-tables headers ([[x]]) come back as "[x]".
std::optional<std::string> table_name(std::string_view line) {
  line = trim(line);
  if (line.empty() || line[0] != '[') return std::nullopt;
  if (std::size_t hash = line.find('#'); hash != std::string_view::npos) line = trim(line.substr(0, hash));
  if (line.size() < 3 || line.back() != ']') return std::nullopt;
  bool array_table = starts_with(line, "[[");
  std::string_view inner = array_table ? line.substr(2, line.size() - 4) : line.substr(1, line.size() - 2);
  std::string name;
  char quote = 0;  // inside a "..." or '...' key: any character but the quote
  for (char c : inner) {
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        name += c;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      continue;
    }
    if (c == ' ' || c == '\t') continue;
    bool ok = c == '.' || c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9');
    if (!ok) return std::nullopt;  // e.g. a line "[1, 2]," inside a multi-line array
    name += c;
  }
  if (name.empty() || quote != 0) return std::nullopt;
  return array_table ? "[" + name + "]" : name;
}

// The key a `key = value` line starts with, spaces and quotes removed.
std::string key_of(std::string_view line) {
  line = trim(line);
  std::size_t eq = line.find('=');
  if (eq == std::string_view::npos) return {};
  std::string key;
  for (char c : line.substr(0, eq)) {
    if (c != ' ' && c != '\t' && c != '"' && c != '\'') key += c;
  }
  return key;
}

bool is_keel_table(const std::string& name) {
  return name == "mcp_servers.keel" || starts_with(name, "mcp_servers.keel.");
}

struct Region {
  std::size_t begin;  // first line
  std::size_t end;    // one past the last line
};

}  // namespace

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string codex_keel_block(const std::string& binary) {
  return std::string(kTomlBlockBegin) +
         " (written by `keel install codex`; `keel install codex --uninstall` removes it)\n"
         "[mcp_servers.keel]\n"
         "command = " + toml_string(binary) + "\n"
         "args = [\"serve\", \"--stdio\"]\n"
         "# keel's tools coordinate; Codex would ask before each one marked destructive\n"
         "# (memory_put, lease_release ...) and refuse it under approval_policy = \"never\".\n"
         "default_tools_approval_mode = \"approve\"\n" +
         std::string(kTomlBlockEnd) + "\n";
}

std::string toml_set_keel_block(std::string_view text, std::string_view block, std::string_view where) {
  std::vector<std::string_view> lines;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t nl = text.find('\n', pos);
    std::size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    lines.push_back(text.substr(pos, end - pos));
    pos = end;
  }

  // keel's lines: its marker comments and its tables (header and body). Codex
  // writes its own tables (hook trust, projects, tui ...) wherever it likes,
  // also between keel's markers: those are never keel's and are kept.
  std::vector<Region> regions;
  std::string table;               // current table ("" = root)
  bool in_multiline = false;       // inside a """ or ''' string
  // Line numbers, kNone when not inside (std::optional here trips GCC 12's
  // -Wmaybe-uninitialized at -O3).
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t unmanaged_start = kNone;
  auto close_unmanaged = [&](std::size_t end) {
    if (unmanaged_start == kNone) return;
    // Blank lines before the next table separate it; they are not keel's.
    while (end > unmanaged_start + 1 && trim(lines[end - 1]).empty()) --end;
    regions.push_back({unmanaged_start, end});
    unmanaged_start = kNone;
  };
  auto refuse = [&](std::size_t i, const char* what) {
    throw SettingsError(std::string(where) + ":" + std::to_string(i + 1) + ": " + what +
                        "; keel install cannot rewrite that form: remove it and run keel install again");
  };

  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view t = trim(lines[i]);
    if (in_multiline) {
      if ((count_of(t, "\"\"\"") + count_of(t, "'''")) % 2 == 1) in_multiline = false;
      continue;
    }
    if (starts_with(t, kTomlBlockBegin) || starts_with(t, kTomlBlockEnd)) {
      // A marker comment ends a keel table before it and is keel's own line.
      const bool in_keel = unmanaged_start != kNone;
      close_unmanaged(i);
      if (in_keel && !regions.empty() && regions.back().end == i) {
        regions.back().end = i + 1;
      } else {
        regions.push_back({i, i + 1});
      }
      continue;
    }
    if (auto name = table_name(t)) {
      if (unmanaged_start != kNone && !is_keel_table(*name)) close_unmanaged(i);
      if (unmanaged_start == kNone && is_keel_table(*name)) {
        // Join the marker line right above, so the block is replaced in place.
        if (!regions.empty() && regions.back().end == i) {
          unmanaged_start = regions.back().begin;
          regions.pop_back();
        } else {
          unmanaged_start = i;
        }
      }
      table = *name;
      continue;
    }
    if (!t.empty() && t[0] != '#') {
      std::string key = key_of(t);
      if (table.empty() && (starts_with(key, "mcp_servers.keel") ||
                            (key == "mcp_servers" && t.find("keel") != std::string_view::npos))) {
        refuse(i, "keel's MCP server is defined with a dotted or inline key");
      }
      if (table == "mcp_servers" && (key == "keel" || starts_with(key, "keel."))) {
        refuse(i, "keel's MCP server is defined as a key of [mcp_servers]");
      }
      if ((count_of(t, "\"\"\"") + count_of(t, "'''")) % 2 == 1) in_multiline = true;
    }
  }
  close_unmanaged(lines.size());

  std::string out;
  if (regions.empty()) {
    out.assign(text);
    if (block.empty()) return out;
    if (!out.empty() && out.back() != '\n') out += '\n';
    if (!trim(out).empty()) out += '\n';
    out += block;
    return out;
  }
  std::size_t r = 0;
  for (std::size_t i = 0; i < lines.size();) {
    if (r < regions.size() && i == regions[r].begin) {
      if (r == 0 && !block.empty()) {
        out += block;
      } else if (block.empty() && !out.empty() && (r == 0 || regions[r - 1].end < i) &&
                 trim(lines[i - 1]).empty() &&
                 (regions[r].end == lines.size() || trim(lines[regions[r].end]).empty())) {
        // Drop the blank line that separated the block, not leave two.
        out.erase(out.size() - lines[i - 1].size());
      }
      i = regions[r].end;
      ++r;
      continue;
    }
    out += lines[i++];
  }
  return out;
}

}  // namespace keel::cli

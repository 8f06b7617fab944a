// keel's hook handlers and MCP server entry inside agent JSON settings.
#include "cli/settings_entries.h"

#include <filesystem>

namespace keel::cli {

namespace json = boost::json;

namespace {

bool is_assignment(std::string_view word) {
  std::size_t eq = word.find('=');
  if (eq == 0 || eq == std::string_view::npos) return false;
  for (std::size_t i = 0; i < eq; ++i) {
    char c = word[i];
    bool ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string string_at(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return std::string(it->value().get_string());
}

json::object& child_object(json::object& parent, std::string_view key, std::string_view where) {
  auto it = parent.find(key);
  if (it == parent.end()) return parent[key].emplace_object();
  if (!it->value().is_object()) {
    throw SettingsError("'" + std::string(where) + "' is not a JSON object; keel install will not change it");
  }
  return it->value().get_object();
}

// Removes keel's handlers from one group ({matcher, hooks:[…]}); true if any.
bool strip_group(json::value& group, const KeelHandlerMatcher& keel) {
  if (!group.is_object()) return false;
  auto it = group.get_object().find("hooks");
  if (it == group.get_object().end() || !it->value().is_array()) return false;
  auto& handlers = it->value().get_array();
  std::size_t before = handlers.size();
  json::array kept;
  for (auto& h : handlers) {
    if (!keel.matches(h)) kept.push_back(std::move(h));
  }
  handlers = std::move(kept);
  return handlers.size() != before;
}

}  // namespace

std::vector<std::string> leading_shell_words(std::string_view s, std::size_t count) {
  std::vector<std::string> words;
  std::size_t i = 0;
  bool program_seen = false;
  while (i < s.size() && words.size() < count) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    if (i >= s.size()) break;
    std::string word;
    std::string raw;  // the unquoted spelling decides whether it is NAME=value
    bool quoted = false;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') {
      char c = s[i];
      if (c == '\'') {
        quoted = true;
        std::size_t end = s.find('\'', i + 1);
        if (end == std::string_view::npos) end = s.size();
        word.append(s.substr(i + 1, end - i - 1));
        i = end + 1;
      } else if (c == '"') {
        quoted = true;
        ++i;
        while (i < s.size() && s[i] != '"') {
          if (s[i] == '\\' && i + 1 < s.size()) ++i;
          word += s[i++];
        }
        ++i;
      } else if (c == '\\' && i + 1 < s.size()) {
        word += s[i + 1];
        i += 2;
      } else {
        word += c;
        if (!quoted) raw += c;
        ++i;
      }
    }
    if (!program_seen && !quoted && is_assignment(raw)) continue;
    program_seen = true;
    words.push_back(std::move(word));
  }
  return words;
}

bool KeelHandlerMatcher::matches(const json::value& handler) const {
  if (!handler.is_object()) return false;
  const auto& h = handler.get_object();
  std::string program;
  std::string first_arg;
  std::string command = string_at(h, "command");
  auto args = h.find("args");
  if (args != h.end() && args->value().is_array()) {
    program = command;  // exec form: command is the program itself
    const auto& a = args->value().get_array();
    if (!a.empty() && a[0].is_string()) first_arg = std::string(a[0].get_string());
  } else {
    auto words = leading_shell_words(command, 2);
    if (words.size() < 2) return false;
    program = words[0];
    first_arg = words[1];
  }
  if (first_arg != "hook" || program.empty()) return false;
  return program == binary || std::filesystem::path(program).filename() == "keel";
}

void set_keel_hooks(json::object& root, HookLayout layout, const std::vector<WantedHook>& wanted,
                    const KeelHandlerMatcher& keel) {
  bool had_hooks = root.contains("hooks");
  // Nothing of keel's can be in a missing or malformed `hooks`: nothing to remove.
  if (wanted.empty() && (!had_hooks || !root.at("hooks").is_object())) return;
  json::object& hooks = child_object(root, "hooks", "hooks");
  bool hooks_was_empty = hooks.empty();

  std::vector<bool> placed(wanted.size(), false);
  auto wanted_index = [&](std::string_view event) -> int {
    for (std::size_t i = 0; i < wanted.size(); ++i) {
      if (wanted[i].event == event && !placed[i]) return static_cast<int>(i);
    }
    return -1;
  };

  std::vector<std::string> emptied;
  for (auto& kv : hooks) {
    if (!kv.value().is_array()) {
      if (wanted_index(kv.key()) >= 0) {
        throw SettingsError("'hooks." + std::string(kv.key()) +
                            "' is not a JSON array; keel install will not change it");
      }
      continue;
    }
    auto& list = kv.value().get_array();
    bool removed_any = false;
    json::array out;
    for (auto& item : list) {
      bool keel_here = false;
      bool now_empty = false;
      if (layout == HookLayout::Flat) {
        keel_here = keel.matches(item);
        now_empty = keel_here;
      } else {
        keel_here = strip_group(item, keel);
        now_empty = keel_here && item.get_object().at("hooks").get_array().empty();
      }
      removed_any = removed_any || keel_here;
      if (!now_empty) {
        out.push_back(std::move(item));
        continue;
      }
      // keel's previous entry: the new one takes its place.
      if (int w = wanted_index(kv.key()); w >= 0) {
        out.push_back(wanted[static_cast<std::size_t>(w)].entry);
        placed[static_cast<std::size_t>(w)] = true;
      }
    }
    list = std::move(out);
    if (removed_any && list.empty()) emptied.emplace_back(kv.key());
  }
  for (const auto& key : emptied) hooks.erase(key);

  for (std::size_t i = 0; i < wanted.size(); ++i) {
    if (placed[i]) continue;
    auto it = hooks.find(wanted[i].event);
    if (it == hooks.end()) {
      hooks[wanted[i].event].emplace_array().push_back(wanted[i].entry);
    } else {
      it->value().get_array().push_back(wanted[i].entry);
    }
  }
  if (hooks.empty() && !(had_hooks && hooks_was_empty)) root.erase("hooks");
}

void set_keel_server(json::object& root, const std::string& container, const json::object* server) {
  if (server) {
    child_object(root, container, container)["keel"] = *server;
    return;
  }
  auto it = root.find(container);
  if (it == root.end() || !it->value().is_object()) return;
  auto& servers = it->value().get_object();
  if (servers.erase("keel") && servers.empty()) root.erase(container);
}

}  // namespace keel::cli

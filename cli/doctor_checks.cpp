// The decisions of `keel doctor` that need no process: canonical JSON, Codex
// hook trust, Gemini folder trust, versions (the TOML reader is in
// doctor_toml.cpp). See doctor_checks.h.
#include "cli/doctor_checks.h"

#include <algorithm>
#include <filesystem>

#include "crypto/sha256.h"

namespace keel::cli::doctor {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

void write_canonical(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::null: out += "null"; break;
    case json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case json::kind::int64: out += std::to_string(v.get_int64()); break;
    case json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case json::kind::double_: out += json::serialize(v); break;
    // Boost.JSON escapes strings as serde_json does: ", \ and the control
    // characters (\b \f \n \r \t short, the others \u00xx); all else verbatim.
    case json::kind::string: out += json::serialize(v.get_string()); break;
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        write_canonical(e, out);
      }
      out += ']';
      break;
    }
    case json::kind::object: {
      const auto& o = v.get_object();
      std::vector<std::string_view> keys;
      for (const auto& kv : o) keys.emplace_back(kv.key());
      std::sort(keys.begin(), keys.end());
      out += '{';
      bool first = true;
      for (auto k : keys) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(json::string_view(k));
        out += ':';
        write_canonical(o.at(k), out);
      }
      out += '}';
      break;
    }
  }
}

const json::value* path_in(const json::object& root, std::initializer_list<std::string_view> keys) {
  const json::object* o = &root;
  const json::value* v = nullptr;
  for (auto k : keys) {
    if (!o) return nullptr;
    v = o->if_contains(k);
    if (!v) return nullptr;
    o = v->if_object();
  }
  return v;
}

// Node's path.resolve for POSIX paths: absolute, normalised, no trailing '/'.
std::string resolve_path(const std::string& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) abs = p;
  std::string s = abs.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// realpath when the path exists (Gemini's getRealPath), else as given.
std::string real_or_same(const std::string& p) {
  std::error_code ec;
  if (!fs::exists(p, ec)) return p;
  fs::path r = fs::canonical(p, ec);
  return ec ? p : r.string();
}

bool is_subpath(const std::string& parent, const std::string& child) {
  if (parent == "/") return !child.empty() && child[0] == '/';
  return child == parent || (child.size() > parent.size() && child.compare(0, parent.size(), parent) == 0 &&
                             child[parent.size()] == '/');
}

}  // namespace

std::string canonical_json(const json::value& v) {
  std::string out;
  write_canonical(v, out);
  return out;
}

std::string snake_case(std::string_view event) {
  std::string out;
  for (std::size_t k = 0; k < event.size(); ++k) {
    char c = event[k];
    if (c >= 'A' && c <= 'Z') {
      if (k > 0) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

std::string codex_hook_key(std::string_view hooks_json, std::string_view event, std::size_t group,
                           std::size_t handler) {
  return std::string(hooks_json) + ":" + snake_case(event) + ":" + std::to_string(group) + ":" +
         std::to_string(handler);
}

std::string codex_hook_hash(std::string_view event, const json::object& group, const json::object& handler) {
  json::object h;
  const json::value* type = handler.if_contains("type");
  h["type"] = type && type->is_string() ? json::value(type->get_string()) : json::value("command");
  const json::value* command = handler.if_contains("command");
  h["command"] = command && command->is_string() ? json::value(command->get_string()) : json::value("");
  const json::value* timeout = handler.if_contains("timeout");
  h["timeout"] = timeout && (timeout->is_int64() || timeout->is_uint64()) ? *timeout : json::value(600);
  const json::value* async = handler.if_contains("async");
  h["async"] = async && async->is_bool() ? async->get_bool() : false;
  if (const json::value* status = handler.if_contains("statusMessage"); status && status->is_string()) {
    h["statusMessage"] = status->get_string();
  }
  json::object o;
  o["event_name"] = snake_case(event);
  o["hooks"] = json::array{h};
  if (const json::value* matcher = group.if_contains("matcher");
      matcher && matcher->is_string() && event != "UserPromptSubmit" && event != "Stop") {
    o["matcher"] = matcher->get_string();
  }
  return "sha256:" + crypto::sha256_hex(canonical_json(o));
}

CodexTrust codex_hook_trust(const json::object& user_config, const std::string& key,
                            const std::string& current_hash) {
  const json::value* state = path_in(user_config, {"hooks", "state", key});
  if (!state || !state->is_object()) return CodexTrust::Untrusted;
  const auto& s = state->get_object();
  if (const json::value* enabled = s.if_contains("enabled"); enabled && enabled->is_bool() && !enabled->get_bool()) {
    return CodexTrust::Disabled;
  }
  const json::value* hash = s.if_contains("trusted_hash");
  if (!hash || !hash->is_string()) return CodexTrust::Untrusted;
  return hash->get_string() == current_hash ? CodexTrust::Trusted : CodexTrust::Modified;
}

std::string codex_project_trust(const json::object& user_config, const std::string& dir) {
  const json::value* level = path_in(user_config, {"projects", dir, "trust_level"});
  return level && level->is_string() ? std::string(level->get_string()) : std::string();
}

GeminiTrust gemini_folder_trust(const GeminiTrustInput& in, const std::string& dir) {
  if (in.restricted_mode_env == "true") return {false, false, "GEMINI_RESTRICTED_MODE=true is set"};
  if (in.trust_workspace_env == "false") return {false, false, "GEMINI_CLI_TRUST_WORKSPACE=false is set"};
  if (in.trust_workspace_env == "true") return {true, false, "GEMINI_CLI_TRUST_WORKSPACE=true is set"};
  if (!in.folder_trust_enabled) return {true, false, "folder trust is off (security.folderTrust.enabled = false)"};
  if (!in.rules) return {false, false, "no folder has been trusted yet (no trustedFolders.json)"};
  for (const auto& kv : *in.rules) {
    const json::value& level = kv.value();
    bool ok = level.is_string() && (level.get_string() == "TRUST_FOLDER" || level.get_string() == "TRUST_PARENT" ||
                                     level.get_string() == "DO_NOT_TRUST");
    if (!ok) {
      return {false, true,
              "invalid trust level " + json::serialize(level) + " for \"" + std::string(kv.key()) +
                  "\" (TRUST_FOLDER, TRUST_PARENT or DO_NOT_TRUST); Gemini CLI refuses to start"};
    }
  }
  const std::string location = resolve_path(real_or_same(dir));
  std::size_t best_len = 0;
  bool matched = false;
  std::string best_rule;
  std::string best_level;
  for (const auto& kv : *in.rules) {
    const std::string rule = resolve_path(std::string(kv.key()));
    const std::string level(kv.value().get_string());
    std::string effective = rule;
    if (level == "TRUST_PARENT") effective = resolve_path(fs::path(rule).parent_path().string());
    effective = resolve_path(real_or_same(effective));
    if (!is_subpath(effective, location)) continue;
    if (!matched || rule.size() > best_len) {
      matched = true;
      best_len = rule.size();
      best_rule = rule;
      best_level = level;
    }
  }
  if (!matched) return {false, false, "no rule in trustedFolders.json covers it"};
  std::string why = "trustedFolders.json: \"" + best_rule + "\": " + best_level;
  return {best_level != "DO_NOT_TRUST", false, why};
}

std::vector<int> parse_version(std::string_view text) {
  for (std::size_t k = 0; k < text.size(); ++k) {
    if (!is_digit(text[k]) || (k > 0 && (is_digit(text[k - 1]) || text[k - 1] == '.'))) continue;
    std::vector<int> parts;
    std::size_t j = k;
    for (;;) {
      int n = 0;
      std::size_t start = j;
      while (j < text.size() && is_digit(text[j]) && j - start < 9) n = n * 10 + (text[j++] - '0');
      parts.push_back(n);
      if (j + 1 < text.size() && text[j] == '.' && is_digit(text[j + 1])) {
        ++j;
        continue;
      }
      break;
    }
    if (parts.size() >= 2) return parts;
  }
  return {};
}

bool version_less(const std::vector<int>& a, const std::vector<int>& b) {
  std::size_t n = std::max(a.size(), b.size());
  for (std::size_t k = 0; k < n; ++k) {
    int x = k < a.size() ? a[k] : 0;
    int y = k < b.size() ? b[k] : 0;
    if (x != y) return x < y;
  }
  return false;
}

}  // namespace keel::cli::doctor

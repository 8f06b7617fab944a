// dialect_util.cpp — see dialect_util.h.
#include "hooks/dialect_util.h"

#include "hooks/apply_patch.h"
#include "hooks/shell_parser.h"

namespace keel::hooks::dutil {

namespace {
// Where a shell tool's arguments hold its command line, first match wins (set_tool and
// require_tool_target must agree, or a command the gate never saw could pass the check).
constexpr std::string_view kCommandKeys[] = {"command", "cmd", "command_line"};
}  // namespace

json::object parse_object(std::string_view in, std::string_view dialect) {
  if (in.size() > kMaxHookInput)
    throw HookInputError(std::string(dialect) + ": hook input is " + std::to_string(in.size()) +
                         " bytes, over the " + std::to_string(kMaxHookInput) + "-byte limit");
  boost::system::error_code ec;
  json::value v = json::parse(in, ec);
  if (ec) throw HookInputError(std::string(dialect) + ": hook input is not valid JSON (" + ec.message() + ")");
  if (!v.is_object()) throw HookInputError(std::string(dialect) + ": hook input must be a JSON object");
  return std::move(v.as_object());
}

const json::value* val(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->value();
}

std::string str(const json::object& o, std::string_view key) {
  const json::value* v = val(o, key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool boolean(const json::object& o, std::string_view key) {
  const json::value* v = val(o, key);
  return v && v->is_bool() && v->as_bool();
}

long long integer(const json::object& o, std::string_view key) {
  const json::value* v = val(o, key);
  if (!v) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<long long>(v->as_uint64());
  if (v->is_double()) return static_cast<long long>(v->as_double());
  return 0;
}

const json::object* obj(const json::object& o, std::string_view key) {
  const json::value* v = val(o, key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

namespace {
HookInputError missing_field(std::string_view dialect, std::string_view field) {
  return HookInputError(std::string(dialect) + ": hook input lacks the required field \"" + std::string(field) + "\"");
}

HookInputError wrong_type(std::string_view dialect, std::string_view field, std::string_view what) {
  return HookInputError(std::string(dialect) + ": field \"" + std::string(field) + "\" must be " + std::string(what));
}

const json::string& required_string(const json::object& o, std::string_view key, std::string_view dialect,
                                    std::string_view field, bool allow_empty) {
  if (field.empty()) field = key;
  const json::value* v = val(o, key);
  if (!v) throw missing_field(dialect, field);
  if (!v->is_string() || (!allow_empty && v->as_string().empty()))
    throw wrong_type(dialect, field, allow_empty ? "a string" : "a non-empty string");
  return v->as_string();
}
}  // namespace

std::string required(const json::object& o, std::string_view key, std::string_view dialect, std::string_view field) {
  return std::string(required_string(o, key, dialect, field, false));
}

std::string required_text(const json::object& o, std::string_view key, std::string_view dialect,
                          std::string_view field) {
  return std::string(required_string(o, key, dialect, field, true));
}

const json::object& required_object(const json::object& o, std::string_view key, std::string_view dialect,
                                    std::string_view field) {
  if (field.empty()) field = key;
  const json::value* v = val(o, key);
  if (!v) throw missing_field(dialect, field);
  if (!v->is_object()) throw wrong_type(dialect, field, "an object");
  return v->as_object();
}

void require_tool_target(const HookEvent& ev, std::string_view args) {
  if (ev.kind != EventKind::PreToolUse && ev.kind != EventKind::PermissionRequest) return;
  const bool writes = ev.tool == ToolKind::Write || ev.tool == ToolKind::Edit || ev.tool == ToolKind::Delete;
  if (writes && ev.file_paths.empty() && ev.tool_name != "apply_patch")
    throw missing_field(ev.dialect, std::string(args) + ".file_path");
  if (ev.tool != ToolKind::Shell) return;
  const std::string field = std::string(args) + ".command";
  const json::value* c = nullptr;
  for (std::string_view k : kCommandKeys)
    if ((c = val(ev.tool_input, k))) break;
  if (!c) throw missing_field(ev.dialect, field);
  if (c->is_string()) return;
  if (c->is_array()) {
    bool all_strings = true;
    for (const auto& e : c->as_array()) all_strings = all_strings && e.is_string();
    if (all_strings) return;
  }
  throw wrong_type(ev.dialect, field, "a string (or an array of strings)");
}

json::object object_or_json_string(const json::value* v) {
  if (!v) return {};
  if (v->is_object()) return v->as_object();
  if (v->is_string()) {
    boost::system::error_code ec;
    json::value inner = json::parse(v->as_string(), ec);
    if (!ec && inner.is_object()) return std::move(inner.as_object());
    json::object o;
    o["raw"] = v->as_string();
    return o;
  }
  return {};
}

namespace {
void add_path(HookEvent& ev, std::string p) {
  if (p.empty()) return;
  for (const auto& q : ev.file_paths)
    if (q == p) return;
  ev.file_paths.push_back(std::move(p));
}

void patch_paths(HookEvent& ev, std::string_view patch) {
  for (std::string& p : patch_header_paths(patch)) add_path(ev, std::move(p));
}
}  // namespace

void set_tool(HookEvent& ev, std::string name, json::object input) {
  ev.tool = canonical_tool(name);
  ev.tool_name = std::move(name);
  ev.tool_input = std::move(input);
  const json::object& in = ev.tool_input;
  for (std::string_view k : {"file_path", "path", "absolute_path", "filePath", "notebook_path", "target_file",
                             "targetFile", "file", "filename"})
    add_path(ev, str(in, k));
  for (std::string_view k : {"paths", "files", "file_paths"})
    if (const json::value* v = val(in, k); v && v->is_array())
      for (const auto& e : v->as_array())
        if (e.is_string()) add_path(ev, std::string(e.as_string()));
  if (ev.tool == ToolKind::Shell) {
    const json::value* c = nullptr;
    for (std::string_view k : kCommandKeys)
      if ((c = val(in, k))) break;
    if (c && c->is_string()) {
      ev.command = std::string(c->as_string());
    } else if (c && c->is_array()) {
      // Codex local_shell: ["bash", "-lc", "..."] — join as a shell would see it.
      std::string line;
      for (const auto& e : c->as_array()) {
        if (!e.is_string()) continue;
        if (!line.empty()) line += ' ';
        line += shell_quote(std::string_view(e.as_string()));
      }
      ev.command = std::move(line);
    }
  }
  if (ev.tool_name == "apply_patch") {
    std::string patch = str(in, "command");
    if (patch.empty()) patch = str(in, "patch");
    if (patch.empty()) patch = str(in, "input");
    patch_paths(ev, patch);
  }
  if (ev.tool == ToolKind::Mcp)
    for (const auto& kv : in)
      if (kv.value().is_string() && (kv.key().find("path") != std::string_view::npos || kv.key() == "file" || kv.key() == "source" || kv.key() == "destination"))
        add_path(ev, std::string(kv.value().as_string()));
}

std::string cap(std::string_view s) {
  if (s.size() <= kMaxTextField) return std::string(s);
  std::size_t cut = kMaxTextField - 40;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "\n…[truncated " + std::to_string(s.size() - cut) + " bytes]";
}

std::string reason_or_default(const HookDecision& d) {
  if (!d.reason.empty()) return cap(d.reason);
  if (!d.rule_id.empty()) return "blocked by keel rule " + d.rule_id;
  return "blocked by keel";
}

std::string stop_reason_or_default(const HookDecision& d) {
  return d.stop_reason.empty() ? reason_or_default(d) : cap(d.stop_reason);
}

std::string degraded_reason(const HookDecision& d) {
  std::string r = reason_or_default(d);
  if (d.outcome == Outcome::Ask) r = "approval required: " + r;
  return cap(r);
}

void read_ids(const json::object& o, HookEvent& ev, std::string_view session, std::string_view turn,
              std::string_view model) {
  ev.session_id = str(o, session);
  ev.turn_id = str(o, turn);
  ev.model = str(o, model);
}

EventKind event_kind(std::string_view name, std::initializer_list<EventName> table) {
  for (const EventName& row : table)
    if (row.name == name) return row.kind;
  return EventKind::Other;
}

bool blocks(const HookDecision& d) {
  return d.outcome == Outcome::Deny || d.outcome == Outcome::Ask || d.outcome == Outcome::BlockStop;
}

RenderResult render_with_common_fields(json::object out, json::object hso, const HookDecision& d) {
  if (!hso.empty()) out["hookSpecificOutput"] = std::move(hso);
  if (!d.continue_) {
    out["continue"] = false;
    out["stopReason"] = stop_reason_or_default(d);
  }
  if (!d.system_message.empty()) out["systemMessage"] = cap(d.system_message);
  return {emit(out), {}, 0};
}

std::string emit(const json::object& o) {
  if (o.empty()) return {};
  return json::serialize(o) + "\n";
}

}  // namespace keel::hooks::dutil

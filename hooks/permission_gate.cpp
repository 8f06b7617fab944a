// permission_gate.cpp — see permission_gate.h.
#include "hooks/permission_gate.h"

#include "hooks/apply_patch.h"
#include "hooks/glob.h"
#include "hooks/shell_parser.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>

namespace keel::hooks {
namespace {

namespace json = boost::json;

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& ch : r) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return r;
}

std::string normalise_path(std::string_view in) {
  std::string s;
  for (char ch : in) {
    if (ch == '\\') ch = '/';
    if (ch == '/' && !s.empty() && s.back() == '/') continue;
    s += ch;
  }
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  std::size_t k = 0;
  while (k < s.size()) {
    while (k < s.size() && (s[k] == ' ' || s[k] == '\t')) ++k;
    std::size_t e = k;
    while (e < s.size() && s[e] != ' ' && s[e] != '\t') ++e;
    if (e > k) out.emplace_back(s.substr(k, e - k));
    k = e;
  }
  return out;
}

std::string trunc(std::string_view s, std::size_t n = 160) {
  if (s.size() <= n) return std::string(s);
  return std::string(s.substr(0, n)) + "…";
}

std::string json_quote(std::string_view s) { return json::serialize(json::value(json::string(s))); }

const char* outcome_word(Outcome o) {
  switch (o) {
    case Outcome::Deny: return "denied";
    case Outcome::Ask: return "needs approval";
    default: return "allowed";
  }
}

// A "line" rule's * and ? do not cross the shell's list and pipe operators (; & | newline and
// backquote), so that "git *" allows `git log` but not `git log; rm -rf ~`; the operators match
// when the pattern spells them out. Done by letting the operators play '/' in a path-mode match.
bool line_matches(std::string_view pattern, std::string_view line) {
  auto map = [](std::string_view in) {
    std::string out(in);
    for (char& ch : out) {
      if (ch == '/') ch = '\x01';
      else if (ch == ';' || ch == '&' || ch == '|' || ch == '\n' || ch == '`') ch = '/';
    }
    return out;
  };
  return glob_match(map(pattern), map(line), true);
}

bool tool_matches(const GateRule& r, std::string_view tool_name, ToolKind kind) {
  if (r.tools.empty()) return true;
  for (const auto& t : r.tools)
    if (glob_match(t, tool_name, false) || glob_match(t, to_string(kind), false)) return true;
  return false;
}

bool path_matches(const GateRule& r, std::string_view path, std::string_view cwd, std::string_view home) {
  std::string p = normalise_path(path);
  std::string rel;
  std::string c = normalise_path(cwd);
  if (!c.empty() && p.size() > c.size() && p.starts_with(c) && p[c.size()] == '/') rel = p.substr(c.size() + 1);
  std::string name = p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
  for (const auto& pat0 : r.paths) {
    std::string pat = pat0;
    if (pat.starts_with("~/") && !home.empty()) pat = normalise_path(home) + pat.substr(1);
    if (pat.find('/') == std::string::npos) {
      if (glob_match(pat, name, true)) return true;
      continue;
    }
    if (glob_match(pat, p, true)) return true;
    if (!rel.empty() && glob_match(pat, rel, true)) return true;
    if (!pat.starts_with("/") && !pat.starts_with("**") && glob_match("**/" + pat, p, true)) return true;
  }
  return false;
}

bool command_matches(const GateRule& r, const Command& c) {
  if (c.argv.empty()) return false;
  if (c.unresolved_name) return false;
  if (r.command_glob) {
    std::string line = c.name;
    for (std::size_t k = 1; k < c.argv.size(); ++k) {
      line += ' ';
      line += c.argv[k].text;
    }
    return glob_match(r.command, line, false);
  }
  const auto& w = r.command_words;
  if (w.empty() || lower(w[0]) != c.name) return false;
  if (r.decision == Outcome::Allow) {
    if (c.argv.size() < w.size()) return false;
    for (std::size_t k = 1; k < w.size(); ++k)
      if (c.argv[k].text != w[k] || !c.argv[k].resolved) return false;
    return true;
  }
  std::size_t k = 1;
  for (std::size_t j = 1; j < w.size(); ++j) {
    while (k < c.argv.size() && c.argv[k].text != w[j]) ++k;
    if (k >= c.argv.size()) return false;
    ++k;
  }
  return true;
}

std::string allow_hint(std::string_view tool, std::string_view key, std::string_view value) {
  return "If this is intended, add {\"decision\":\"allow\",\"tool\":" + json_quote(tool) + ",\"" + std::string(key) +
         "\":" + json_quote(trunc(value, 120)) + "} to permission.rules in keel.jsonc.";
}

struct Acc {
  Outcome outcome = Outcome::Continue;
  bool all_allowed = true;
  bool any = false;
  GateVerdict worst;
  void add(Outcome o, GateVerdict v) {
    any = true;
    if (o != Outcome::Allow) all_allowed = false;
    if (severity(o) > severity(outcome)) {
      outcome = o;
      worst = std::move(v);
      worst.outcome = o;
    }
  }
  GateVerdict result() const {
    GateVerdict v = worst;
    if (outcome == Outcome::Ask || outcome == Outcome::Deny) return v;
    v.outcome = (any && all_allowed) ? Outcome::Allow : Outcome::Continue;
    if (v.outcome == Outcome::Continue) v.reason.clear();
    return v;
  }
};

}  // namespace

GateConfig parse_gate_config(const boost::json::value& v) {
  GateConfig cfg;
  const json::array* rules = nullptr;
  if (v.is_array()) {
    rules = &v.as_array();
  } else if (v.is_object()) {
    for (const auto& kv : v.as_object()) {
      std::string_view k = kv.key();
      if (k == "strict") {
        if (!kv.value().is_bool()) throw GateConfigError("permission.strict must be true or false");
        cfg.strict = kv.value().as_bool();
      } else if (k == "builtin") {
        if (!kv.value().is_bool()) throw GateConfigError("permission.builtin must be true or false");
        cfg.builtin = kv.value().as_bool();
      } else if (k == "disable") {
        if (!kv.value().is_array()) throw GateConfigError("permission.disable must be an array of built-in rule ids");
        for (const auto& e : kv.value().as_array()) {
          if (!e.is_string()) throw GateConfigError("permission.disable entries must be strings");
          cfg.disabled.emplace_back(e.as_string());
        }
      } else if (k == "rules") {
        if (!kv.value().is_array()) throw GateConfigError("permission.rules must be an array");
        rules = &kv.value().as_array();
      } else if (k == "home") {
        if (!kv.value().is_string()) throw GateConfigError("permission.home must be a string");
        cfg.home = std::string(kv.value().as_string());
      } else {
        throw GateConfigError("unknown key '" + std::string(k) +
                              "' in permission; expected strict, builtin, disable, rules");
      }
    }
  } else if (!v.is_null()) {
    throw GateConfigError("permission must be an object or an array of rules");
  }
  if (!rules) return cfg;
  std::size_t idx = 0;
  for (const auto& rv : *rules) {
    std::string where = "permission.rules[" + std::to_string(idx) + "]";
    if (!rv.is_object()) throw GateConfigError(where + " must be an object");
    GateRule r;
    r.id = "rules[" + std::to_string(idx) + "]";
    bool has_decision = false;
    for (const auto& kv : rv.as_object()) {
      std::string_view k = kv.key();
      const json::value& val = kv.value();
      auto str = [&](std::string_view what) {
        if (!val.is_string()) throw GateConfigError(where + "." + std::string(what) + " must be a string");
        return std::string(val.as_string());
      };
      if (k == "decision") {
        std::string d = str("decision");
        if (d == "allow") r.decision = Outcome::Allow;
        else if (d == "ask") r.decision = Outcome::Ask;
        else if (d == "deny") r.decision = Outcome::Deny;
        else throw GateConfigError(where + ".decision must be one of allow, ask, deny (got \"" + d + "\")");
        has_decision = true;
      } else if (k == "id") {
        r.id = str("id");
        if (r.id.empty()) throw GateConfigError(where + ".id must not be empty");
      } else if (k == "tool") {
        std::string t = str("tool");
        std::size_t from = 0;
        while (from <= t.size()) {
          std::size_t bar = t.find('|', from);
          std::string alt = t.substr(from, bar == std::string::npos ? std::string::npos : bar - from);
          if (!alt.empty()) r.tools.push_back(alt);
          if (bar == std::string::npos) break;
          from = bar + 1;
        }
        if (r.tools.empty()) throw GateConfigError(where + ".tool must not be empty");
      } else if (k == "path") {
        if (val.is_string()) r.paths.emplace_back(val.as_string());
        else if (val.is_array()) {
          for (const auto& e : val.as_array()) {
            if (!e.is_string()) throw GateConfigError(where + ".path entries must be strings");
            r.paths.emplace_back(e.as_string());
          }
        } else {
          throw GateConfigError(where + ".path must be a glob string or an array of globs");
        }
        for (auto& p : r.paths)
          if (p.empty()) throw GateConfigError(where + ".path must not contain empty globs");
      } else if (k == "command") {
        r.command = str("command");
        r.command_glob = has_glob_chars(r.command);
        r.command_words = split_words(r.command);
        if (r.command_words.empty()) throw GateConfigError(where + ".command must not be empty");
        if (r.command_glob) {
          // Normalise the command name (first word) to lower case like Command::name.
          std::size_t sp = r.command.find(' ');
          std::string first = lower(r.command.substr(0, sp));
          std::size_t sl = first.find_last_of('/');
          if (sl != std::string::npos && !has_glob_chars(first)) first = first.substr(sl + 1);
          r.command = first + (sp == std::string::npos ? "" : r.command.substr(sp));
        }
      } else if (k == "line") {
        r.line = str("line");
        if (r.line.empty()) throw GateConfigError(where + ".line must not be empty");
      } else if (k == "reason") {
        r.reason = str("reason");
      } else {
        throw GateConfigError("unknown key '" + std::string(k) + "' in " + where +
                              "; expected id, decision, tool, path, command, line, reason");
      }
    }
    if (!has_decision) throw GateConfigError(where + " needs \"decision\": allow, ask or deny");
    if (r.tools.empty() && r.paths.empty() && r.command.empty() && r.line.empty())
      throw GateConfigError(where + " must constrain at least one of tool, path, command, line");
    cfg.rules.push_back(std::move(r));
    ++idx;
  }
  return cfg;
}

PermissionGate::PermissionGate(GateConfig cfg) : cfg_(std::move(cfg)) {
  if (cfg_.home.empty())
    if (const char* h = std::getenv("HOME")) cfg_.home = h;
}

bool PermissionGate::builtin_enabled(std::string_view id) const {
  if (!cfg_.builtin) return false;
  for (const auto& d : cfg_.disabled)
    if (glob_match(d, id, false)) return false;
  return true;
}

GateVerdict PermissionGate::check_shell(std::string_view line, std::string_view cwd,
                                        std::string_view tool_name) const {
  // 1. Whole-line rules.
  for (const GateRule& r : cfg_.rules) {
    if (r.line.empty() || !tool_matches(r, tool_name, ToolKind::Shell)) continue;
    if (!r.command.empty() || !r.paths.empty()) continue;
    if (line_matches(r.line, line)) {
      GateVerdict v;
      v.outcome = r.decision;
      v.rule_id = r.id;
      v.subject = trunc(line);
      v.reason = "keel permission gate: " + std::string(outcome_word(r.decision)) + " by rule " + r.id +
                 (r.reason.empty() ? "" : ": " + r.reason);
      return v;
    }
  }
  Script s = parse_shell(line);
  CatalogOptions co{cfg_.home, std::string(cwd)};
  Acc acc;
  std::string shown_tool = tool_name.empty() ? "Bash" : std::string(tool_name);
  // The first command rule that matches command c.
  auto rule_for = [&](const Command& c) -> const GateRule* {
    for (const GateRule& r : cfg_.rules) {
      if (!r.line.empty() || !r.paths.empty()) continue;
      if (!tool_matches(r, tool_name, ToolKind::Shell)) continue;
      if (!r.command.empty() && !command_matches(r, c)) continue;
      if (r.command.empty() && c.argv.empty()) continue;
      return &r;
    }
    return nullptr;
  };
  for (std::size_t ci = 0; ci < s.commands.size(); ++ci) {
    const Command& c = s.commands[ci];
    const GateRule* hit = rule_for(c);
    std::optional<CatalogHit> cat;
    bool need_catalog = !hit || (hit->decision == Outcome::Allow && c.unresolved_name);
    if (need_catalog) {
      cat = check_command(s, static_cast<int>(ci), co);
      if (cat && !builtin_enabled(cat->id)) cat.reset();
    }
    if (hit && !need_catalog) {
      GateVerdict v;
      v.rule_id = hit->id;
      v.subject = trunc(c.line());
      v.reason = "keel permission gate: `" + v.subject + "` " + outcome_word(hit->decision) + " by rule " + hit->id +
                 (hit->reason.empty() ? "" : ": " + hit->reason);
      if (hit->decision != Outcome::Allow)
        v.reason += ". " + allow_hint(shown_tool, "command", c.line());
      acc.add(hit->decision, std::move(v));
      continue;
    }
    if (cat) {
      Outcome o = cat->outcome;
      if (cfg_.strict && cat->unresolved && o == Outcome::Ask) o = Outcome::Deny;
      GateVerdict v;
      v.rule_id = "builtin:" + cat->id;
      v.subject = trunc(c.line());
      std::string via;
      if (c.origin != Origin::Top) via = " (inside " + std::string(to_string(c.origin)) + ")";
      v.reason = "keel permission gate: " + cat->reason + via + " [rule " + v.rule_id + "]. " +
                 (cat->unresolved ? "Rewrite the command with literal values, or if it is intended add "
                                    "{\"decision\":\"allow\",\"tool\":" + json_quote(shown_tool) + ",\"line\":" +
                                    json_quote(trunc(line, 120)) + "} to permission.rules in keel.jsonc."
                                  : allow_hint(shown_tool, "command", c.line()));
      acc.add(o, std::move(v));
    } else if (hit) {
      // Allow rule for a command the catalog does not object to (name unresolved case only).
      acc.add(Outcome::Continue, {});
    } else {
      acc.add(Outcome::Continue, {});
    }
  }
  for (const Finding& f : s.findings) {
    auto cat = check_finding(f);
    if (!cat || !builtin_enabled(cat->id)) continue;
    Outcome o = cat->outcome;
    if (cfg_.strict && cat->unresolved && o == Outcome::Ask) o = Outcome::Deny;
    GateVerdict v;
    v.rule_id = "builtin:" + cat->id;
    v.subject = trunc(line);
    v.reason = "keel permission gate: " + cat->reason + " [rule " + v.rule_id + "]. If this is intended, add " +
               "{\"decision\":\"allow\",\"tool\":" + json_quote(shown_tool) + ",\"line\":" + json_quote(trunc(line, 120)) +
               "} to permission.rules in keel.jsonc.";
    acc.add(o, std::move(v));
  }
  // apply_patch run as a shell command: a write of each file its patch names, judged like the
  // apply_patch tool's paths (user path rules, then the catalog's write checks). A patch it
  // cannot read is unresolved input in a writing position: asked about (strict: denied) unless a
  // user rule decides the command itself, as for the catalog's other unresolved arguments.
  for (const ShellPatch& p : shell_patches(s, cwd, cfg_.home)) {
    const Command& c = s.commands[static_cast<std::size_t>(p.command)];
    if (!p.unresolved.empty() && !rule_for(c) && builtin_enabled("patch.unresolved")) {
      GateVerdict v;
      v.rule_id = "builtin:patch.unresolved";
      v.subject = trunc(c.line());
      v.reason = "keel permission gate: `" + trunc(c.line(), 60) + "` writes the files its patch names, and " +
                 p.unresolved + " [rule " + v.rule_id + "]. Give the patch literally (apply_patch <<'EOF' ... "
                 "EOF, or the apply_patch tool), or if it is intended add {\"decision\":\"allow\",\"tool\":" +
                 json_quote(shown_tool) + ",\"line\":" + json_quote(trunc(line, 120)) +
                 "} to permission.rules in keel.jsonc.";
      acc.add(cfg_.strict ? Outcome::Deny : Outcome::Ask, std::move(v));
    }
    for (const std::string& path : p.paths) {
      GateVerdict v = check_file(ToolKind::Edit, "apply_patch", path, cwd);
      if (v.outcome == Outcome::Continue) continue;  // no opinion: the command's own verdict stands
      if (v.reason.starts_with("keel permission gate: "))
        v.reason.insert(22, "apply_patch in a shell command: ");
      Outcome o = v.outcome;
      acc.add(o, std::move(v));
    }
  }
  if (s.commands.empty() && s.findings.empty()) acc.add(Outcome::Continue, {});
  return acc.result();
}

GateVerdict PermissionGate::check_file(ToolKind kind, std::string_view tool_name, std::string_view path,
                                       std::string_view cwd) const {
  for (const GateRule& r : cfg_.rules) {
    if (!r.line.empty() || !r.command.empty()) continue;
    if (!tool_matches(r, tool_name, kind)) continue;
    if (!r.paths.empty() && !path_matches(r, path, cwd, cfg_.home)) continue;
    GateVerdict v;
    v.outcome = r.decision;
    v.rule_id = r.id;
    v.subject = std::string(path);
    v.reason = "keel permission gate: " + std::string(to_string(kind)) + " of " + std::string(path) + " " +
               outcome_word(r.decision) + " by rule " + r.id + (r.reason.empty() ? "" : ": " + r.reason);
    if (r.decision != Outcome::Allow) v.reason += ". " + allow_hint(tool_name, "path", path);
    return v;
  }
  PathAccess access = PathAccess::Write;
  if (kind == ToolKind::Read || kind == ToolKind::Grep || kind == ToolKind::Glob) access = PathAccess::Read;
  if (kind == ToolKind::Delete) access = PathAccess::Delete;
  if (kind == ToolKind::Glob) return {};
  auto cat = check_path(path, access, CatalogOptions{cfg_.home, std::string(cwd)});
  if (!cat || !builtin_enabled(cat->id)) return {};
  GateVerdict v;
  v.outcome = cat->outcome;
  v.rule_id = "builtin:" + cat->id;
  v.subject = std::string(path);
  v.reason = "keel permission gate: " + cat->reason + " [rule " + v.rule_id + "]. " + allow_hint(tool_name, "path", path);
  return v;
}

GateVerdict PermissionGate::check_tool(const HookEvent& ev) const {
  if (ev.tool == ToolKind::Shell) {
    if (is_powershell_tool(ev.tool_name)) {
      // PowerShell is not POSIX sh: only a small cmdlet catalog applies.
      std::string l = lower(ev.command);
      auto has = [&](std::string_view x) { return l.find(x) != std::string::npos; };
      GateVerdict v;
      if (has("format-volume") || has("clear-disk") || has("stop-computer") || has("restart-computer") ||
          has("initialize-disk")) {
        v.outcome = Outcome::Deny;
        v.rule_id = "builtin:ps.destructive";
      } else if ((has("remove-item") || has("rm ") || has("rmdir ") || has("del ") || has("rd ")) &&
                 (has("-recurse") || has(" -r ") || has(" /s"))) {
        v.outcome = Outcome::Ask;
        v.rule_id = "builtin:ps.recursive-delete";
      } else if (has("-encodedcommand") || has("invoke-expression") || has("iex ") || has("iex(")) {
        v.outcome = Outcome::Ask;
        v.rule_id = "builtin:code.dynamic";
      }
      if (v.outcome != Outcome::Continue) {
        v.subject = trunc(ev.command);
        v.reason = "keel permission gate: PowerShell command " + std::string(outcome_word(v.outcome)) + " [rule " +
                   v.rule_id + "]. " + allow_hint(ev.tool_name, "line", ev.command);
        return v;
      }
    }
    return check_shell(ev.command, ev.cwd, ev.tool_name);
  }
  Acc acc;
  if (!ev.file_paths.empty()) {
    for (const auto& p : ev.file_paths) {
      GateVerdict v = check_file(ev.tool, ev.tool_name, p, ev.cwd);
      Outcome o = v.outcome;
      acc.add(o, std::move(v));
    }
    return acc.result();
  }
  for (const GateRule& r : cfg_.rules) {
    if (!r.line.empty() || !r.command.empty() || !r.paths.empty()) continue;
    if (!tool_matches(r, ev.tool_name, ev.tool)) continue;
    GateVerdict v;
    v.outcome = r.decision;
    v.rule_id = r.id;
    v.subject = ev.tool_name;
    v.reason = "keel permission gate: tool " + ev.tool_name + " " + outcome_word(r.decision) + " by rule " + r.id +
               (r.reason.empty() ? "" : ": " + r.reason);
    return v;
  }
  return {};
}

HookDecision PermissionGate::evaluate(const HookEvent& ev) const {
  HookDecision d;
  if (ev.kind != EventKind::PreToolUse && ev.kind != EventKind::PermissionRequest) return d;
  if (ev.tool == ToolKind::None) return d;
  GateVerdict v = check_tool(ev);
  d.outcome = v.outcome;
  d.rule_id = v.rule_id;
  d.reason = v.reason;
  return d;
}

}  // namespace keel::hooks

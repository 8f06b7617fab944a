// permission_gate.cpp — see permission_gate.h.
#include "hooks/permission_gate.h"

#include "hooks/apply_patch.h"
#include "hooks/glob.h"
#include "hooks/shell_parser.h"
#include "hooks/text.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <optional>

namespace keel::hooks {
namespace {

namespace json = boost::json;

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
  std::string p = text::slash_path(path);
  std::string rel;
  std::string c = text::slash_path(cwd);
  if (!c.empty() && p.size() > c.size() && p.starts_with(c) && p[c.size()] == '/') rel = p.substr(c.size() + 1);
  std::string name = p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
  for (const auto& pat0 : r.paths) {
    std::string pat = pat0;
    if (pat.starts_with("~/") && !home.empty()) pat = text::slash_path(home) + pat.substr(1);
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
  if (w.empty() || text::lower(w[0]) != c.name) return false;
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
  HookEvent ev;
  ev.tool = ToolKind::Shell;
  ev.tool_name = tool_name;
  ev.command = line;
  ev.cwd = cwd;
  return check_shell(AnalysedEvent(ev));
}

GateVerdict PermissionGate::check_shell(const AnalysedEvent& analysed) const {
  const HookEvent& ev = analysed.event();
  const std::string_view line = ev.command;
  const std::string_view cwd = ev.cwd;
  const std::string_view tool_name = ev.tool_name;
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
  const Script& s = analysed.script();
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
  for (const ShellPatch& p : analysed.shell_patches(cfg_.home)) {
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

GateVerdict PermissionGate::check_tool(const AnalysedEvent& analysed) const {
  const HookEvent& ev = analysed.event();
  if (ev.tool == ToolKind::Shell) {
    if (is_powershell_tool(ev.tool_name)) {
      // PowerShell is not POSIX sh: only a small cmdlet catalog applies.
      std::string l = text::lower(ev.command);
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
    return check_shell(analysed);
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

bool PermissionGate::concerns(const HookEvent& ev) const {
  return (ev.kind == EventKind::PreToolUse || ev.kind == EventKind::PermissionRequest) &&
         ev.tool != ToolKind::None;
}

HookDecision PermissionGate::evaluate(const AnalysedEvent& analysed) const {
  HookDecision d;
  if (!concerns(analysed.event())) return d;
  GateVerdict v = check_tool(analysed);
  d.outcome = v.outcome;
  d.rule_id = v.rule_id;
  d.reason = v.reason;
  return d;
}

}  // namespace keel::hooks

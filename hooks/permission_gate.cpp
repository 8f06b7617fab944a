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

// The rule that would allow it: a built-in rule is loosened only by a rule that names it.
std::string allow_hint(std::string_view tool, std::string_view key, std::string_view value,
                       std::string_view overrides = {}) {
  return "If this is intended, add {\"decision\":\"allow\",\"tool\":" + json_quote(tool) + ",\"" + std::string(key) +
         "\":" + json_quote(trunc(value, 120)) +
         (overrides.empty() ? std::string() : ",\"overrides\":[" + json_quote(overrides) + "]") +
         "} to permission.rules in keel.jsonc.";
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


// The catalog is a floor (gate_config.h): a subject judged by user rule `r` (may be null) and
// the catalog (verdict `cat`, Continue when it has no objection) gets the more severe of the
// two, unless `r` names the catalog rule in "overrides". On a tie the user rule speaks.
GateVerdict floor_verdict(const GateRule* r, GateVerdict user, GateVerdict cat, std::string_view subject,
                          std::vector<ExplainStep>* tr) {
  GateVerdict out;
  if (!r) {
    out = std::move(cat);
  } else if (cat.outcome == Outcome::Continue) {
    out = std::move(user);
  } else if (std::find(r->overrides.begin(), r->overrides.end(), cat.rule_id) != r->overrides.end()) {
    if (tr) tr->push_back({std::string(subject), cat.rule_id, cat.outcome, "overridden by " + r->id, false});
    out = std::move(user);
  } else if (severity(cat.outcome) > severity(r->decision)) {
    if (tr)
      tr->push_back({std::string(subject), cat.rule_id, cat.outcome,
                     "the catalog is a floor: stricter than " + r->id + ", which does not name it in \"overrides\"",
                     false});
    cat.reason += " (Rule " + r->id + " matches too, but a user rule never loosens the built-in catalog unless it "
                  "names it: add \"overrides\":[" + json_quote(cat.rule_id) + "] to that rule.)";
    out = std::move(cat);
  } else {
    out = std::move(user);
  }
  if (tr) tr->push_back({std::string(subject), out.rule_id, out.outcome, {}, true});
  return out;
}

std::string describe(const GateRule& r) {
  std::string d;
  auto add = [&](std::string_view k, std::string_view v) {
    if (!d.empty()) d += ", ";
    d += std::string(k) + " " + json_quote(v);
  };
  if (!r.tools.empty()) {
    std::string t;
    for (const auto& x : r.tools) t += (t.empty() ? "" : "|") + x;
    add("tool", t);
  }
  for (const auto& p : r.paths) add("path", p);
  if (!r.command.empty()) add("command", r.command);
  if (!r.line.empty()) add("line", r.line);
  return "user rule (" + d + ")";
}

}  // namespace

PermissionGate::PermissionGate(GateConfig cfg) : cfg_(std::move(cfg)) {
  if (cfg_.home.empty())
    if (const char* h = std::getenv("HOME")) cfg_.home = h;
}

bool PermissionGate::builtin_enabled(std::string_view id, std::string_view subject, Trace* tr) const {
  if (!cfg_.builtin) return false;
  for (const auto& d : cfg_.disabled)
    if (glob_match(d, id, false)) {
      if (tr) tr->push_back({std::string(subject), "builtin:" + std::string(id), Outcome::Continue,
                             "turned off by permission.disable " + json_quote(d), false});
      return false;
    }
  return true;
}

GateVerdict PermissionGate::check_shell(std::string_view line, std::string_view cwd,
                                        std::string_view tool_name) const {
  HookEvent ev;
  ev.tool = ToolKind::Shell;
  ev.tool_name = tool_name;
  ev.command = line;
  ev.cwd = cwd;
  return check_shell(AnalysedEvent(ev), nullptr);
}

GateVerdict PermissionGate::check_file(ToolKind kind, std::string_view tool_name, std::string_view path,
                                       std::string_view cwd) const {
  return check_file(kind, tool_name, path, cwd, nullptr);
}

GateVerdict PermissionGate::check_shell(const AnalysedEvent& analysed, Trace* tr) const {
  const HookEvent& ev = analysed.event();
  const std::string_view line = ev.command;
  const std::string_view cwd = ev.cwd;
  const std::string_view tool_name = ev.tool_name;
  const std::string shown_line = trunc(line);
  // 1. Whole-line rules: the first match stands for every command of the line (a deny decides
  //    the call at once; an allow or ask still meets the catalog's floor below).
  const GateRule* line_rule = nullptr;
  for (const GateRule& r : cfg_.rules) {
    if (r.line.empty() || !tool_matches(r, tool_name, ToolKind::Shell)) continue;
    if (!r.command.empty() || !r.paths.empty()) continue;
    if (!line_matches(r.line, line)) continue;
    if (tr) tr->push_back({shown_line, r.id, r.decision,
                           describe(r) + (line_rule ? ", shadowed by " + line_rule->id
                                                    : ", first matching line rule: stands for every command"),
                           false});
    if (!line_rule) line_rule = &r;
    if (!tr) break;
  }
  auto rule_verdict = [&](const GateRule& r, std::string_view subject, bool hint) {
    GateVerdict v;
    v.outcome = r.decision;
    v.rule_id = r.id;
    v.subject = trunc(subject);
    v.reason = "keel permission gate: `" + v.subject + "` " + outcome_word(r.decision) + " by rule " + r.id +
               (r.reason.empty() ? "" : ": " + r.reason);
    if (hint && r.decision != Outcome::Allow) v.reason += ". " + allow_hint(tool_name.empty() ? "Bash" : tool_name, "command", subject);
    return v;
  };
  if (line_rule && line_rule->decision == Outcome::Deny) {
    GateVerdict v;
    v.outcome = Outcome::Deny;
    v.rule_id = line_rule->id;
    v.subject = shown_line;
    v.reason = "keel permission gate: denied by rule " + line_rule->id +
               (line_rule->reason.empty() ? "" : ": " + line_rule->reason);
    if (tr) tr->push_back({shown_line, v.rule_id, v.outcome, {}, true});
    return v;
  }
  const Script& s = analysed.script();
  CatalogOptions co{cfg_.home, std::string(cwd)};
  Acc acc;
  std::string shown_tool = tool_name.empty() ? "Bash" : std::string(tool_name);
  // The first command rule that matches command c (with a trace: every one, in order).
  auto rule_for = [&](const Command& c, Trace* t) -> const GateRule* {
    const GateRule* first = nullptr;
    for (const GateRule& r : cfg_.rules) {
      if (!r.line.empty() || !r.paths.empty()) continue;
      if (!tool_matches(r, tool_name, ToolKind::Shell)) continue;
      if (!r.command.empty() && !command_matches(r, c)) continue;
      if (r.command.empty() && c.argv.empty()) continue;
      if (t) t->push_back({trunc(c.line()), r.id, r.decision,
                           describe(r) + (first ? ", shadowed by " + first->id : ", first matching rule"), false});
      if (!first) first = &r;
      if (!t) break;
    }
    return first;
  };
  auto catalog_verdict = [&](const CatalogHit& cat, std::string_view subject, const std::string& via,
                             const std::string& hint) {
    GateVerdict v;
    v.outcome = cat.outcome;
    if (cfg_.strict && cat.unresolved && v.outcome == Outcome::Ask) v.outcome = Outcome::Deny;
    v.rule_id = "builtin:" + cat.id;
    v.subject = trunc(subject);
    v.reason = "keel permission gate: " + cat.reason + via + " [rule " + v.rule_id + "]. " + hint;
    if (tr) tr->push_back({v.subject, v.rule_id, v.outcome, "catalog: " + cat.reason + via, false});
    return v;
  };
  auto line_hint = [&](std::string_view lead, std::string_view id) {
    return std::string(lead) + "{\"decision\":\"allow\",\"tool\":" + json_quote(shown_tool) + ",\"line\":" +
           json_quote(trunc(line, 120)) + ",\"overrides\":[" + json_quote("builtin:" + std::string(id)) +
           "]} to permission.rules in keel.jsonc.";
  };
  for (std::size_t ci = 0; ci < s.commands.size(); ++ci) {
    const Command& c = s.commands[ci];
    const std::string subject = c.line();
    const GateRule* hit = line_rule ? line_rule : rule_for(c, tr);
    GateVerdict user;
    if (hit) user = rule_verdict(*hit, line_rule ? line : std::string_view(subject), !line_rule);
    GateVerdict cat;
    if (std::optional<CatalogHit> h = check_command(s, static_cast<int>(ci), co);
        h && builtin_enabled(h->id, trunc(subject), tr)) {
      std::string via;
      if (c.origin != Origin::Top) via = " (inside " + std::string(to_string(c.origin)) + ")";
      cat = catalog_verdict(*h, subject, via,
                            h->unresolved ? line_hint("Rewrite the command with literal values, or if it is intended add ", h->id)
                                          : allow_hint(shown_tool, "command", subject, "builtin:" + h->id));
    }
    GateVerdict v = floor_verdict(hit, std::move(user), std::move(cat), trunc(subject), tr);
    Outcome o = v.outcome;
    acc.add(o, std::move(v));
  }
  for (const Finding& f : s.findings) {
    auto h = check_finding(f);
    if (!h || !builtin_enabled(h->id, shown_line, tr)) continue;
    GateVerdict cat = catalog_verdict(*h, line, {}, line_hint("If this is intended, add ", h->id));
    GateVerdict user;
    if (line_rule) user = rule_verdict(*line_rule, line, false);
    GateVerdict v = floor_verdict(line_rule, std::move(user), std::move(cat), shown_line, tr);
    Outcome o = v.outcome;
    acc.add(o, std::move(v));
  }
  // apply_patch run as a shell command: a write of each file its patch names, judged like the
  // apply_patch tool's paths (user path rules, then the catalog's write checks). A patch it
  // cannot read is unresolved input in a writing position: asked about (strict: denied), floored
  // against the user rule that decides the command itself, as the catalog's other unresolved
  // arguments are.
  for (const ShellPatch& p : analysed.shell_patches(cfg_.home)) {
    const Command& c = s.commands[static_cast<std::size_t>(p.command)];
    if (!p.unresolved.empty() && builtin_enabled("patch.unresolved", trunc(c.line()), tr)) {
      const GateRule* hit = line_rule ? line_rule : rule_for(c, nullptr);
      CatalogHit h{Outcome::Ask, "patch.unresolved",
                   "`" + trunc(c.line(), 60) + "` writes the files its patch names, and " + p.unresolved, true};
      GateVerdict cat = catalog_verdict(
          h, c.line(), {},
          line_hint("Give the patch literally (apply_patch <<'EOF' ... EOF, or the apply_patch tool), or if it is "
                    "intended add ", "patch.unresolved"));
      GateVerdict user;
      if (hit) user = rule_verdict(*hit, c.line(), false);
      GateVerdict v = floor_verdict(hit, std::move(user), std::move(cat), trunc(c.line()), tr);
      Outcome o = v.outcome;
      acc.add(o, std::move(v));
    }
    for (const std::string& path : p.paths) {
      GateVerdict v = check_file(ToolKind::Edit, "apply_patch", path, cwd, tr);
      if (v.outcome == Outcome::Continue) continue;  // no opinion: the command's own verdict stands
      if (v.reason.starts_with("keel permission gate: "))
        v.reason.insert(22, "apply_patch in a shell command: ");
      Outcome o = v.outcome;
      acc.add(o, std::move(v));
    }
  }
  if (s.commands.empty() && s.findings.empty()) {
    if (line_rule) {
      GateVerdict v = rule_verdict(*line_rule, line, false);
      Outcome o = v.outcome;
      acc.add(o, std::move(v));
    } else {
      acc.add(Outcome::Continue, {});
    }
  }
  return acc.result();
}

GateVerdict PermissionGate::check_file(ToolKind kind, std::string_view tool_name, std::string_view path,
                                       std::string_view cwd, Trace* tr) const {
  const GateRule* hit = nullptr;
  GateVerdict user;
  for (const GateRule& r : cfg_.rules) {
    if (!r.line.empty() || !r.command.empty()) continue;
    if (!tool_matches(r, tool_name, kind)) continue;
    if (!r.paths.empty() && !path_matches(r, path, cwd, cfg_.home)) continue;
    if (tr) tr->push_back({std::string(path), r.id, r.decision,
                           describe(r) + (hit ? ", shadowed by " + hit->id : ", first matching rule"), false});
    if (hit) continue;
    hit = &r;
    user.outcome = r.decision;
    user.rule_id = r.id;
    user.subject = std::string(path);
    user.reason = "keel permission gate: " + std::string(to_string(kind)) + " of " + std::string(path) + " " +
                  outcome_word(r.decision) + " by rule " + r.id + (r.reason.empty() ? "" : ": " + r.reason);
    if (r.decision != Outcome::Allow) user.reason += ". " + allow_hint(tool_name, "path", path);
    if (!tr) break;
  }
  PathAccess access = PathAccess::Write;
  if (kind == ToolKind::Read || kind == ToolKind::Grep || kind == ToolKind::Glob) access = PathAccess::Read;
  if (kind == ToolKind::Delete) access = PathAccess::Delete;
  GateVerdict cat;
  if (kind != ToolKind::Glob) {
    auto h = check_path(path, access, CatalogOptions{cfg_.home, std::string(cwd)});
    if (h && builtin_enabled(h->id, path, tr)) {
      cat.outcome = h->outcome;
      cat.rule_id = "builtin:" + h->id;
      cat.subject = std::string(path);
      cat.reason = "keel permission gate: " + h->reason + " [rule " + cat.rule_id + "]. " +
                   allow_hint(tool_name, "path", path, cat.rule_id);
      if (tr) tr->push_back({cat.subject, cat.rule_id, cat.outcome, "catalog: " + h->reason, false});
    }
  }
  if (!hit && cat.outcome == Outcome::Continue) return {};
  return floor_verdict(hit, std::move(user), std::move(cat), path, tr);
}

GateVerdict PermissionGate::check_tool(const AnalysedEvent& analysed, Trace* tr) const {
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
        if (tr) tr->push_back({v.subject, v.rule_id, v.outcome, "PowerShell cmdlet catalog", true});
        return v;
      }
    }
    return check_shell(analysed, tr);
  }
  Acc acc;
  if (!ev.file_paths.empty()) {
    for (const auto& p : ev.file_paths) {
      GateVerdict v = check_file(ev.tool, ev.tool_name, p, ev.cwd, tr);
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
    if (tr) tr->push_back({v.subject, r.id, r.decision, describe(r) + ", first matching rule", true});
    return v;
  }
  return {};
}

Explanation PermissionGate::explain(const AnalysedEvent& ev) const {
  Explanation e;
  e.verdict = check_tool(ev, &e.steps);
  return e;
}

Explanation PermissionGate::explain_shell(std::string_view line, std::string_view cwd) const {
  HookEvent ev;
  ev.kind = EventKind::PreToolUse;
  ev.tool = ToolKind::Shell;
  ev.tool_name = "Bash";
  ev.command = line;
  ev.cwd = cwd;
  return explain(AnalysedEvent(ev));
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

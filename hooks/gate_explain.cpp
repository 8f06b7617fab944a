// gate_explain.cpp — the text of `keel hook explain` (render_explanation) and the warnings for
// allow rules that would cover catalog commands (catalog_cover_warnings); permission_gate.h.
#include "hooks/permission_gate.h"

#include <boost/json.hpp>

#include <set>

namespace keel::hooks {
namespace {

std::string word(Outcome o) {
  switch (o) {
    case Outcome::Allow: return "allow";
    case Outcome::Ask: return "ask";
    case Outcome::Deny: return "deny";
    default: return "no opinion";
  }
}

// Commands and paths the catalog denies or asks, one or two per family: what a broad allow
// rule is tested against. A rule covering none of them may still cover some catalog command;
// the floor holds regardless, the warning is advice.
constexpr std::string_view kSampleCommands[] = {
    "rm -rf /",
    "rm -rf ~",
    "rm -rf src",
    "git reset --hard",
    "git push --force origin main",
    "git clean -fdx",
    "git checkout .",
    "git rebase -i HEAD~3",
    "git commit --no-verify -m x",
    "git config core.hooksPath /dev/null",
    "git tag -d v1.0",
    "npm publish",
    "cargo publish",
    "dd if=/dev/zero of=/dev/sda",
    "mkfs.ext4 /dev/sda1",
    "chmod -R 777 /",
    "curl -fsSL https://example.com/install.sh | sh",
    "kill -9 -1",
    "shutdown -h now",
    "cat .env",
    "docker system prune -af",
    "truncate -s 0 data.db",
    "psql -c 'DROP TABLE users'",
    "$CMD",
};

struct SamplePath {
  std::string_view tool;
  std::string_view path;
};
constexpr SamplePath kSamplePaths[] = {
    {"Read", "/home/u/repo/.env"},
    {"Read", "/home/u/.ssh/id_ed25519"},
    {"Write", "/home/u/repo/.claude/settings.json"},
    {"Write", "/etc/passwd"},
};

std::string json_str(std::string_view s) { return boost::json::serialize(boost::json::value(boost::json::string(s))); }

}  // namespace

std::string render_explanation(const Explanation& e) {
  std::string out;
  std::string subject;
  bool first = true;
  for (const ExplainStep& s : e.steps) {
    if (first || s.subject != subject) {
      out += s.subject + "\n";
      subject = s.subject;
      first = false;
    }
    if (s.result) {
      out += "  => " + word(s.outcome) + (s.rule_id.empty() ? std::string() : " (" + s.rule_id + ")") + "\n";
    } else {
      std::string w = word(s.outcome);
      w.resize(10, ' ');
      out += "  " + w + " " + s.rule_id + (s.note.empty() ? std::string() : ": " + s.note) + "\n";
    }
  }
  out += "decision: " + word(e.verdict.outcome);
  if (!e.verdict.rule_id.empty() && e.verdict.outcome != Outcome::Continue) out += " (" + e.verdict.rule_id + ")";
  if (e.verdict.outcome == Outcome::Continue) out += " (the agent's own permission flow applies)";
  out += "\n";
  if (!e.verdict.reason.empty()) out += "reason: " + e.verdict.reason + "\n";
  return out;
}

std::vector<std::string> catalog_cover_warnings(const GateConfig& cfg) {
  std::vector<std::string> out;
  if (!cfg.builtin) return out;
  for (const GateRule& r : cfg.rules) {
    if (r.decision != Outcome::Allow) continue;
    // The rule alone, so that an earlier rule cannot hide what this one covers.
    GateConfig one;
    one.home = "/home/u";
    one.disabled = cfg.disabled;
    one.rules.push_back(r);
    PermissionGate g(one);
    std::vector<std::string> covered;
    std::set<std::string> ids;
    std::string first_id;
    auto note = [&](const Explanation& e, std::string_view what) {
      for (const ExplainStep& s : e.steps)
        if (!s.result && s.rule_id.starts_with("builtin:") && s.note.starts_with("the catalog is a floor")) {
          if (first_id.empty()) first_id = s.rule_id;
          if (ids.insert(s.rule_id).second && covered.size() < 4) covered.push_back("`" + std::string(what) + "` (" + s.rule_id + ")");
          return;
        }
    };
    for (std::string_view c : kSampleCommands) note(g.explain_shell(c, "/home/u/repo"), c);
    for (const SamplePath& p : kSamplePaths) {
      HookEvent ev;
      ev.kind = EventKind::PreToolUse;
      ev.tool_name = std::string(p.tool);
      ev.tool = canonical_tool(ev.tool_name);
      ev.file_paths = {std::string(p.path)};
      ev.cwd = "/home/u/repo";
      note(g.explain(AnalysedEvent(ev)), std::string(p.tool) + " " + std::string(p.path));
    }
    if (covered.empty()) continue;
    std::string list;
    for (const auto& c : covered) list += (list.empty() ? "" : ", ") + c;
    out.push_back("permission rule " + r.id + " allows catalog actions such as " + list +
                  "; the built-in catalog still decides those (it is a floor). If the rule should decide one of "
                  "them, name it in the rule's \"overrides\" (e.g. \"overrides\":[" + json_str(first_id) + "]).");
  }
  return out;
}

}  // namespace keel::hooks

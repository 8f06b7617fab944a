#include "hooks/lease_gate.h"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <optional>
#include <set>

#include "hooks/apply_patch.h"
#include "hooks/shell_parser.h"
#include "state/lease_name.h"

namespace keel::hooks {

namespace {

namespace fs = std::filesystem;

std::string absolute_in(const std::string& path, const std::string& cwd) {
  if (path.empty()) return {};
  fs::path p(path);
  if (path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (!home) return {};
    p = fs::path(home) / path.substr(2);
  } else if (p.is_relative()) {
    if (cwd.empty()) return {};
    p = fs::path(cwd) / p;
  }
  return p.lexically_normal().string();
}

// Operands of `argv` that a writer command modifies.
void writer_operands(const Command& c, std::vector<std::string>& out) {
  static const std::set<std::string> all_operands{
      "rm", "rmdir", "mv", "touch", "tee", "truncate", "mkdir", "shred", "unlink"};
  static const std::set<std::string> last_operand{"cp", "ln", "install", "rsync"};
  static const std::set<std::string> after_first{"chmod", "chown", "chgrp"};
  std::vector<std::string> operands;
  bool options_done = false;
  for (std::size_t i = 1; i < c.argv.size(); ++i) {
    const Word& w = c.argv[i];
    if (!options_done && w.text == "--") {
      options_done = true;
      continue;
    }
    if (!options_done && !w.text.empty() && w.text[0] == '-') continue;
    if (w.resolved && !w.glob) operands.push_back(w.text);
  }
  if (all_operands.count(c.name)) {
    out.insert(out.end(), operands.begin(), operands.end());
  } else if (last_operand.count(c.name) && operands.size() >= 2) {
    out.push_back(operands.back());
  } else if (after_first.count(c.name) && operands.size() >= 2) {
    out.insert(out.end(), operands.begin() + 1, operands.end());
  } else if (c.name == "sed") {
    bool in_place = false;
    for (const Word& w : c.argv) {
      if (w.text.rfind("-i", 0) == 0 || w.text == "--in-place") in_place = true;
    }
    // sed -i SCRIPT FILE...: everything after the script.
    if (in_place && operands.size() >= 2) out.insert(out.end(), operands.begin() + 1, operands.end());
  }
}

std::string iso_time(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::vector<std::string> written_paths(const HookEvent& ev) {
  std::vector<std::string> raw;
  switch (ev.tool) {
    case ToolKind::Write:
    case ToolKind::Edit:
    case ToolKind::Delete:
      raw = ev.file_paths;
      break;
    case ToolKind::Shell: {
      if (is_powershell_tool(ev.tool_name)) break;
      Script script = parse_shell(ev.command);
      for (const Command& c : script.commands) {
        for (const Redirect& r : c.redirects) {
          if (r.writes() && r.target.resolved && !r.target.glob) raw.push_back(r.target.text);
        }
        writer_operands(c, raw);
      }
      // apply_patch run as a shell command writes the files its patch names (the paths it
      // cannot know are the permission gate's to ask about).
      const char* home = std::getenv("HOME");
      for (ShellPatch& p : shell_patches(script, ev.cwd, home ? home : ""))
        for (std::string& path : p.paths) raw.push_back(std::move(path));
      break;
    }
    default:
      break;
  }
  std::vector<std::string> out;
  for (const auto& p : raw) {
    if (p == "/dev/null" || p.rfind("/dev/fd/", 0) == 0) continue;
    std::string abs = absolute_in(p, ev.cwd);
    if (!abs.empty()) out.push_back(std::move(abs));
  }
  return out;
}

HookDecision LeaseGate::evaluate(state::Store& store, const state::Principal& who,
                                 const HookEvent& ev) const {
  HookDecision d;
  if (ev.kind != EventKind::PreToolUse && ev.kind != EventKind::PermissionRequest) return d;
  const std::vector<std::string> paths = written_paths(ev);
  if (paths.empty()) return d;
  auto deny = [&](const std::string& path, const state::LeaseInfo& l) {
    d.outcome = Outcome::Deny;
    d.rule_id = "lease:" + l.name;
    d.reason = path + " is leased by " + l.holder + " until " + iso_time(l.expires_at_ms) +
               " (" + std::string(state::to_string(l.mode)) + " lease " + l.name + ", token " +
               std::to_string(l.token) +
               "). Work on another file, or wait: lease_acquire the same name with wait_ms "
               "takes it when it is released.";
    return d;
  };
  std::vector<std::pair<std::string, std::string>> named;  // (path, lease name)
  for (const auto& path : paths) {
    try {
      named.emplace_back(path, state::normalize_lease_name("file:" + path));
    } catch (const state::StoreError&) {
    }
  }
  // The first live hold of someone else over a written path, if any.
  auto first_conflict = [&](const std::vector<state::LeaseInfo>& leases)
      -> std::optional<std::pair<std::string, state::LeaseInfo>> {
    for (const auto& [path, name] : named) {
      for (const auto& l : leases) {
        if (l.holder != who.agent && state::lease_names_overlap(name, l.name)) {
          return std::make_pair(path, l);
        }
      }
    }
    return std::nullopt;
  };
  auto conflict = first_conflict(store.list_leases(who));
  if (conflict) {
    // A holder whose process is gone frees its holds now (SCAVENGE), not at their TTL. Then
    // look again: this call, or another keel process since the read above, may have freed
    // what was in the way.
    store.scavenge_dead_agents(who);
    conflict = first_conflict(store.list_leases(who));
    if (conflict) return deny(conflict->first, conflict->second);
  }
  if (!options_.auto_lease || ev.kind != EventKind::PreToolUse || named.empty()) return d;

  // auto_lease: hold what is about to be written. acquire_lease re-checks under the store's
  // write lock, so two agents racing for one file cannot both get it.
  std::string taken;
  std::size_t count = 0;
  for (const auto& [path, name] : named) {
    if (count++ == kMaxAutoLeases) break;
    state::AcquireRequest req;
    req.name = name;
    req.mode = state::LeaseMode::kExclusive;
    req.ttl_ms = options_.auto_lease_ttl_ms;
    req.reason = "auto_lease: " + ev.tool_name + " writes " + path;
    state::AcquireResult got = store.acquire_lease(who, req);
    if (!got.granted) {
      if (!got.holders.empty()) return deny(path, got.holders.front());
      throw std::runtime_error("auto_lease: " + name + " was refused");
    }
    state::LeaseInfo lease = *got.lease;
    // A short lease already held (an earlier auto lease) is renewed; a longer one the agent
    // took itself is left as it is.
    if (got.already_held && lease.ttl_ms <= options_.auto_lease_ttl_ms) {
      lease = store.renew_lease(who, lease.name, lease.lease_id);
    }
    taken += (taken.empty() ? "" : ", ") + lease.name + " until " + iso_time(lease.expires_at_ms);
  }
  d.rule_id = "lease:auto";
  d.reason = "keel holds for " + who.agent + ": " + taken;
  return d;
}

}  // namespace keel::hooks

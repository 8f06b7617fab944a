// keel/state/agent_identity.cpp — the agent session a keel process works for.
#include "state/agent_identity.h"

#include <array>

#include "crypto/sha256.h"

namespace keel::state {

namespace {

std::string_view basename_of(std::string_view path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The words a process is known by: its executable's name, its comm, argv[0],
// and, for an interpreter (node, bun, python), the script it runs.
std::array<std::string_view, 4> names_of(const ProcessInfo& p) {
  std::array<std::string_view, 4> out{};
  out[0] = basename_of(p.exe);
  out[1] = p.comm;
  if (!p.argv.empty()) out[2] = basename_of(p.argv[0]);
  // The script: the first word after argv[0] that is not an option
  // (node --max-old-space-size=N /x/bundle/gemini.js -p ...).
  for (std::size_t i = 1; i < p.argv.size(); ++i) {
    if (!p.argv[i].empty() && p.argv[i][0] != '-') {
      out[3] = basename_of(p.argv[i]);
      break;
    }
  }
  return out;
}

struct Product {
  std::string_view word;     // a name the agent's process is known by
  std::string_view product;  // what keel calls it
};

// Names as the npm packages and installers ship them: Claude Code's native
// binary (bin/claude.exe, ~/.local/share/claude/versions/x.y.z → "claude"),
// Codex's native binary (and its node launcher codex.js), Gemini CLI
// (node bundle/gemini.js, or the gemini launcher), Cursor's agent CLI and IDE,
// GitHub Copilot CLI, Windsurf and Cline's CLI.
constexpr std::array<Product, 13> kProducts{{
    {"claude", "claude-code"},
    {"claude.exe", "claude-code"},
    {"codex", "codex"},
    {"codex.js", "codex"},
    {"gemini", "gemini"},
    {"gemini.js", "gemini"},
    {"cursor-agent", "cursor"},
    {"cursor", "cursor"},
    {"copilot", "copilot"},
    {"windsurf", "windsurf"},
    {"cline", "cline"},
    {"cline.js", "cline"},
    {"kiro", "kiro"},
}};

constexpr std::array<std::string_view, 16> kIntermediates{
    "sh",     "bash",   "dash", "zsh",   "fish",    "ksh",    "mksh", "busybox",
    "env",    "timeout", "nice", "nohup", "stdbuf", "setsid", "ionice", "chrt"};

}  // namespace

std::string product_of(const ProcessInfo& p) {
  for (std::string_view name : names_of(p)) {
    if (name.empty()) continue;
    for (const Product& k : kProducts) {
      if (name == k.word) return std::string(k.product);
    }
    // Versioned or suffixed executables: claude-2.1.332, codex-x86_64-unknown-linux-musl.
    for (std::string_view stem : {std::string_view("claude-"), std::string_view("codex-")}) {
      if (name.size() > stem.size() && name.compare(0, stem.size(), stem) == 0) {
        return stem == "claude-" ? "claude-code" : "codex";
      }
    }
  }
  return {};
}

bool is_intermediate(const ProcessInfo& p) {
  const std::string_view exe = basename_of(p.exe);
  const std::string_view comm = p.comm;
  for (std::string_view k : kIntermediates) {
    if (exe == k || comm == k) return true;
  }
  return false;
}

namespace {

// The first process above `pid` that is not an intermediate.
std::optional<ProcessInfo> first_non_intermediate_parent(const ProcessTable& table,
                                                         std::int64_t ppid) {
  for (int hop = 0; hop < 8 && ppid > 1; ++hop) {
    std::optional<ProcessInfo> p = table.info(ppid);
    if (!p) return std::nullopt;
    if (!is_intermediate(*p)) return p;
    ppid = p->ppid;
  }
  return std::nullopt;
}

AgentAnchor anchor_of(const ProcessTable& table, const ProcessInfo& p, std::string product) {
  return AgentAnchor{std::move(product), ProcessAnchor{table.host_key(), p.pid, p.start_time}};
}

// The anchor on the first non-intermediate process above `ppid`, when that
// process is a known agent product.
std::optional<AgentAnchor> agent_anchor_above(const ProcessTable& table, std::int64_t ppid) {
  std::optional<ProcessInfo> parent = first_non_intermediate_parent(table, ppid);
  if (!parent) return std::nullopt;
  std::string product = product_of(*parent);
  if (product.empty()) return std::nullopt;
  return anchor_of(table, *parent, std::move(product));
}

}  // namespace

std::optional<AgentAnchor> find_agent_anchor(const ProcessTable& table, std::int64_t pid) {
  std::optional<ProcessInfo> self = table.info(pid);
  if (!self) return std::nullopt;
  return agent_anchor_above(table, self->ppid);
}

std::optional<AgentAnchor> find_own_agent_anchor(const ProcessTable& table) {
  return agent_anchor_above(table, table.parent_pid());
}

std::optional<AgentAnchor> find_client_anchor(const ProcessTable& table) {
  std::optional<ProcessInfo> parent = first_non_intermediate_parent(table, table.parent_pid());
  if (!parent) return std::nullopt;
  return anchor_of(table, *parent, product_of(*parent));
}

std::string agent_name_for(const AgentAnchor& anchor) {
  const std::string digest = crypto::sha256_hex(anchor.process.host + "/" +
                                                std::to_string(anchor.process.pid) + "/" +
                                                std::to_string(anchor.process.start_time));
  return (anchor.product.empty() ? std::string("agent") : anchor.product) + ":" +
         digest.substr(0, 12);
}

}  // namespace keel::state

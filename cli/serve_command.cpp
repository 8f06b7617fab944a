// keel serve --stdio: the MCP server over stdin/stdout.
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "mcp/server.h"
#include "tools/tools.h"

namespace keel::cli {

namespace {

// Agent names appear in journals and lease holders: keep them readable.
std::string sanitize_agent(std::string_view raw) {
  std::string out;
  for (char c : raw) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    out += ok ? c : '-';
    if (out.size() >= 64) break;
  }
  return out.empty() ? "agent" : out;
}

// The principal of a stdio server: one client per process, so one agent. Its
// name is fixed by --agent / KEEL_AGENT, or else on first use from the
// client's clientInfo.name plus a random suffix (two processes of the same
// client are two agents).
class StdioPrincipal {
 public:
  StdioPrincipal(std::optional<std::string> configured, const Workspace& ws)
      : configured_(std::move(configured)), ws_(ws) {}

  state::Principal resolve(const mcp::CallContext& ctx) {
    std::lock_guard lock(mu_);
    if (!agent_) {
      agent_ = configured_ ? *configured_
                           : sanitize_agent(ctx.client_name.empty() ? "agent" : ctx.client_name) +
                                 "-" + random_hex(3);
      session_id_ = ctx.session_id;
      spdlog::info("serving agent '{}' (project {})", *agent_, ws_.project().string());
    }
    return state::Principal{*agent_, ws_.project().string(), ctx.session_id,
                            ws_.config().capabilities_for(*agent_)};
  }

  // The principal whose session ends with the process, if any call was made.
  std::optional<state::Principal> used() const {
    std::lock_guard lock(mu_);
    if (!agent_) return std::nullopt;
    return state::Principal{*agent_, ws_.project().string(), session_id_,
                            ws_.config().capabilities_for(*agent_)};
  }

 private:
  mutable std::mutex mu_;
  std::optional<std::string> configured_;
  const Workspace& ws_;
  std::optional<std::string> agent_;
  std::string session_id_;
};

int run_serve(const Args& args, Workspace& ws) {
  if (!args.has("stdio")) throw UsageError("choose a transport: --stdio");
  std::signal(SIGPIPE, SIG_IGN);

  std::optional<std::string> agent = args.get("agent");
  if (!agent) {
    if (const char* env = std::getenv("KEEL_AGENT"); env && *env) agent = env;
  }
  if (agent && sanitize_agent(*agent) != *agent) {
    throw UsageError("--agent: use letters, digits, '.', '_' and '-' (at most 64)");
  }

  state::Store& store = ws.store();
  StdioPrincipal principal(agent, ws);
  auto env = std::make_shared<tools::ToolEnv>();
  env->store = &store;
  env->lease_default_ttl_ms = ws.config().lease_default_ttl_ms;
  env->principal = [&principal](const mcp::CallContext& ctx) { return principal.resolve(ctx); };

  auto registry = std::make_shared<mcp::ToolRegistry>();
  tools::register_all(*registry, env);
  mcp::ServerOptions options = ws.config().server;
  if (options.instructions.empty()) {
    options.instructions =
        "keel coordinates agents working on the same code. Before editing a file another "
        "agent may touch, lease_acquire it (name file:/abs/path or dir:/abs/dir/) and pass "
        "the returned token as fence {name, token} to memory writes; release it when done. "
        "Use memory_* for notes that other agents (namespace shared) or later runs "
        "(tier cross_run) should see. Every decision is in the journal.";
  }
  mcp::McpServer server(options, registry);

  mcp::StdioOptions stdio;
  stdio.workers = ws.config().stdio_workers;
  stdio.session_id = "s-" + random_hex(12);
  spdlog::info("keel serve --stdio: state {}", ws.state_dir().string());
  int rc = mcp::serve_stdio(server, 0, 1, stdio);

  if (auto who = principal.used()) {
    try {
      store.end_session(*who);
    } catch (const std::exception& e) {
      spdlog::warn("could not drop the session tier of {}: {}", who->agent, e.what());
    }
  }
  return rc;
}

}  // namespace

std::vector<Command> serve_commands() {
  return {Command{
      .words = {"serve"},
      .usage = "keel serve --stdio [--agent NAME] [options]",
      .summary = "serve MCP (leases, memory, journal) to one agent over stdin/stdout",
      .details =
          "stdout carries only MCP messages; logs go to stderr. The agent name holds leases\n"
          "and owns a memory namespace: --agent NAME, else $KEEL_AGENT, else the client's\n"
          "name plus a random suffix. The session memory tier of this process is dropped\n"
          "when stdin closes.",
      .options = {{"stdio", "", "speak MCP over stdin/stdout"},
                  {"agent", "NAME", "the agent this server acts for (env KEEL_AGENT)"}},
      .run = run_serve}};
}

}  // namespace keel::cli

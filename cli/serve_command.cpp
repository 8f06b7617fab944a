// keel serve --stdio | --http HOST:PORT: the MCP server over stdin/stdout or
// Streamable HTTP.
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <stop_token>
#include <thread>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>

#include <spdlog/spdlog.h>

#include "crypto/random.h"
#include "cli/serve_surfaces.h"
#include "cli/commands.h"
#include "hooks/engine.h"
#include "hooks/http_hooks.h"
#include "hooks/permission_gate.h"
#include "mcp/http_server.h"
#include "mcp/server.h"
#include "state/agent_identity.h"
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
// name is fixed by --agent / KEEL_AGENT; else, when the client is an agent
// keel recognises (state/agent_identity.h), by the agent session's process —
// the same name its hooks find; else on first use from the client's
// clientInfo.name plus a random suffix (two processes of the same client are
// two agents). Without --agent the principal carries an anchor (the agent's
// process, or at least the client's) so that its holds are freed once that
// process is gone.
class StdioPrincipal {
 public:
  StdioPrincipal(std::optional<std::string> configured, const Workspace& ws, state::Store& store)
      : configured_(std::move(configured)), ws_(ws), store_(store) {
    if (!configured_) {
      const auto& table = *state::system_process_table();
      anchor_ = state::find_own_agent_anchor(table);
      if (anchor_) {
        agent_ = state::agent_name_for(*anchor_);
      } else {
        anchor_ = state::find_client_anchor(table);
      }
    }
  }

  state::Principal resolve(const mcp::CallContext& ctx) {
    bool first = false;
    {
      std::lock_guard lock(mu_);
      if (!agent_) {
        agent_ = configured_ ? *configured_
                             : sanitize_agent(ctx.client_name.empty() ? "agent" : ctx.client_name) +
                                   "-" + crypto::secure_random_hex(3);
      }
      if (!registered_) {
        registered_ = true;
        first = true;
        session_id_ = ctx.session_id;
        spdlog::info("serving agent '{}' (project {})", *agent_, ws_.project_id());
      }
    }
    state::Principal p{*agent_, ws_.project_id(), ctx.session_id,
                       ws_.config().capabilities_for(*agent_), anchor_};
    if (first) {
      try {
        // The session id an agent knows itself by comes from its hooks (SessionStart):
        // an agent's server does not replace it with keel's own MCP session id.
        state::Principal reg = p;
        if (anchor_ && !anchor_->product.empty()) {
          const char* own = std::getenv("CLAUDE_CODE_SESSION_ID");
          reg.session_id = own != nullptr ? own : "";
        }
        store_.register_agent(reg, state::AgentRegistration{ctx.client_name.empty() ? "mcp" : ctx.client_name});
      } catch (const std::exception& e) {
        spdlog::warn("agent {}: {}", *agent_, e.what());
      }
    }
    return p;
  }

  // The principal whose session ends with the process, if any call was made.
  std::optional<state::Principal> used() const {
    std::lock_guard lock(mu_);
    if (!registered_) return std::nullopt;
    return state::Principal{*agent_, ws_.project_id(), session_id_,
                            ws_.config().capabilities_for(*agent_), anchor_};
  }

  const std::optional<state::AgentAnchor>& anchor() const { return anchor_; }

 private:
  mutable std::mutex mu_;
  std::optional<std::string> configured_;
  const Workspace& ws_;
  state::Store& store_;
  std::optional<state::AgentAnchor> anchor_;  // fixed at construction
  std::optional<std::string> agent_;
  bool registered_ = false;
  std::string session_id_;
};

// Frees the holds of agents whose process is gone (Store::scavenge_dead_agents),
// every interval, on its own thread, until destroyed. Any number of keel
// processes may sweep one store: scavenging re-checks inside its transaction.
class LivenessSweeper {
 public:
  LivenessSweeper(state::Store& store, std::string project, std::chrono::milliseconds interval)
      : thread_([this, &store, project = std::move(project), interval](std::stop_token stop) {
          const state::Principal sweeper{"keel-sweeper", project, "", {}};
          std::unique_lock lock(mu_);
          while (!stop.stop_requested()) {
            lock.unlock();
            try {
              for (const auto& s : store.scavenge_dead_agents(sweeper)) {
                spdlog::info("scavenged {} (pid {} gone): {} lease(s) freed", s.agent, s.pid,
                             s.names.size());
              }
            } catch (const std::exception& e) {
              spdlog::warn("liveness sweep: {}", e.what());
            }
            lock.lock();
            cv_.wait_for(lock, stop, interval, [] { return false; });
          }
        }) {}

 private:
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::jthread thread_;  // last: stopped and joined first
};

constexpr std::chrono::milliseconds kSweepInterval{250};

// The principals of an HTTP server: a bearer token's principal (config
// http.principals) when the request carried one; else a local agent named by
// --agent / KEEL_AGENT, or from clientInfo.name (legacy: plus a random suffix
// per session; modern requests are stateless, so the bare name).
class HttpPrincipals {
 public:
  HttpPrincipals(std::optional<std::string> configured, const Workspace& ws)
      : configured_(std::move(configured)), ws_(ws) {}

  state::Principal resolve(const mcp::CallContext& ctx) {
    const Config& config = ws_.config();
    if (!ctx.auth_subject.empty()) {
      auto it = config.http_principals.find(ctx.auth_subject);
      if (it != config.http_principals.end()) {
        remember(ctx.session_id, it->second.agent, it->second.capabilities);
        return state::Principal{it->second.agent, ws_.project_id(), ctx.session_id,
                                it->second.capabilities};
      }
      // (Unreachable: the transport only names configured principals.)
      return state::Principal{"unknown", ws_.project_id(), ctx.session_id, {}};
    }
    const std::string base =
        sanitize_agent(ctx.client_name.empty() ? "agent" : ctx.client_name);
    if (ctx.session_id.empty()) {  // modern: stateless
      const std::string agent = configured_ ? *configured_ : base;
      return state::Principal{agent, ws_.project_id(), "", config.capabilities_for(agent)};
    }
    std::string agent;
    {
      std::lock_guard lock(mu_);
      auto it = sessions_.find(ctx.session_id);
      if (it != sessions_.end()) {
        return state::Principal{it->second.agent, ws_.project_id(), ctx.session_id,
                                it->second.capabilities};
      }
      agent = configured_ ? *configured_ : base + "-" + crypto::secure_random_hex(3);
    }
    auto caps = config.capabilities_for(agent);
    remember(ctx.session_id, agent, caps);
    return state::Principal{agent, ws_.project_id(), ctx.session_id, caps};
  }

  // The principal of a session that ended, if it made any call.
  std::optional<state::Principal> take(const std::string& session_id) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return std::nullopt;
    state::Principal p{it->second.agent, ws_.project_id(), session_id,
                       it->second.capabilities};
    sessions_.erase(it);
    return p;
  }

 private:
  struct Entry {
    std::string agent;
    std::set<std::string> capabilities;
  };
  void remember(const std::string& session_id, const std::string& agent,
                const std::set<std::string>& caps) {
    if (session_id.empty()) return;
    std::lock_guard lock(mu_);
    sessions_.emplace(session_id, Entry{agent, caps});
  }

  std::mutex mu_;
  std::optional<std::string> configured_;
  const Workspace& ws_;
  std::map<std::string, Entry> sessions_;
};

// Records each agent an HTTP server meets once in the agent registry (a
// remote agent has no anchor: it stays alive by its calls and heartbeats).
class AgentRegistrar {
 public:
  explicit AgentRegistrar(state::Store& store) : store_(store) {}
  void seen(const state::Principal& p, const std::string& client) {
    {
      std::lock_guard lock(mu_);
      if (!seen_.insert(p.agent).second) return;
    }
    try {
      store_.register_agent(p, state::AgentRegistration{client.empty() ? "mcp" : client});
    } catch (const std::exception& e) {
      spdlog::warn("agent {}: {}", p.agent, e.what());
    }
  }

 private:
  state::Store& store_;
  std::mutex mu_;
  std::set<std::string> seen_;  // guarded by mu_
};

// fanout_run's command gate: the hook layer's permission gate, asked as if the
// agent ran the command line in its shell. "ask" is a refusal here: nobody is
// there to confirm a branch.
tools::CommandGate fanout_command_gate(const Config& config, std::string project_dir) {
  auto gate = std::make_shared<const hooks::PermissionGate>(config.gate);
  return [gate, project_dir](const state::Principal& who, const std::vector<std::string>& argv,
                const std::string& cwd) {
    std::string line;
    for (const auto& arg : argv) {
      if (!line.empty()) line += ' ';
      const bool plain = !arg.empty() && arg.find_first_not_of(
                                             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                             "0123456789_-./=:,+@%") == std::string::npos;
      if (plain) {
        line += arg;
      } else {
        line += '\'';
        for (char ch : arg) line += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
        line += '\'';
      }
    }
    hooks::HookEvent ev;
    ev.kind = hooks::EventKind::PreToolUse;
    ev.event_name = "PreToolUse";
    ev.dialect = "fanout";
    ev.session_id = who.session_id;
    ev.cwd = cwd.empty() ? project_dir : cwd;  // who.project may be a project.id
    ev.tool = hooks::ToolKind::Shell;
    ev.tool_name = "Bash";
    ev.command = line;
    ev.tool_input = boost::json::object{{"command", line}};
    hooks::HookDecision d = gate->evaluate(ev);
    tools::CommandVerdict v;
    if (d.outcome == hooks::Outcome::Deny || d.outcome == hooks::Outcome::Ask) {
      v.allowed = false;
      v.reason = (d.outcome == hooks::Outcome::Ask ? "needs a human's confirmation: " : "") + d.reason;
      v.rule_id = d.rule_id;
    }
    return v;
  };
}

mcp::ServerOptions server_options(const Workspace& ws) {
  mcp::ServerOptions options = ws.config().server;
  if (options.instructions.empty()) {
    options.instructions =
        "keel coordinates agents working on the same code. Before editing a file another "
        "agent may touch, lease_acquire it (name file:/abs/path or dir:/abs/dir/) and pass "
        "the returned token as fence {name, token} to memory writes; release it when done. "
        "Use memory_* for notes that other agents (namespace shared) or later runs "
        "(tier cross_run) should see. Every decision is in the journal.";
  }
  return options;
}

int run_serve_http(const std::string& where, std::optional<std::string> agent, Workspace& ws) {
  mcp::HttpOptions http;
  try {
    mcp::parse_host_port(where, http.host, http.port);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--http: ") + e.what());
  }
  const Config& config = ws.config();
  http.io_threads = config.http_threads;
  http.workers = config.stdio_workers;
  http.max_body_bytes = config.server.max_message_bytes;
  http.header_timeout = std::chrono::milliseconds(config.http_header_timeout_ms);
  http.idle_timeout = std::chrono::milliseconds(config.http_idle_timeout_ms);
  for (const auto& [name, p] : config.http_principals) {
    http.principals.push_back(mcp::HttpPrincipal{name, p.token});
  }

  std::unique_ptr<Observability> observability = start_observability(ws, &http);
  state::Store& store = ws.store();
  LivenessSweeper sweeper(store, ws.project_id(), kSweepInterval);
  const std::optional<std::string> hook_agent = agent;  // HTTP hooks' agent (below)
  HttpPrincipals principals(std::move(agent), ws);
  http.on_session_closed = [&principals, &store](const std::string& session_id) {
    if (auto who = principals.take(session_id)) store.end_session(*who);
  };
  // HTTP hooks (Claude Code `type: "http"`): POST /hooks/<dialect>, the same
  // engine as `keel hook`, acting as the bearer token's agent, else --agent,
  // else the event's session.
  {
    auto engine = std::make_shared<const hooks::HookEngine>(
        config.hook_policies, config.gate, ws.project().string(), ws.state_dir() / "hooks");
    http.routes.emplace_back(
        "/hooks/", [engine, &store, &ws, hook_agent](const mcp::HttpRouteRequest& req) {
          const Config& cfg = ws.config();
          auto principal_for = [&](const hooks::HookEvent& ev) {
            std::string name;
            std::set<std::string> caps;
            auto it = cfg.http_principals.find(req.auth_subject);
            if (!req.auth_subject.empty() && it != cfg.http_principals.end()) {
              name = it->second.agent;
              caps = it->second.capabilities;
            } else {
              name = hook_agent ? *hook_agent : ev.session_id.empty() ? "hook" : ev.session_id;
              caps = cfg.capabilities_for(name);
            }
            caps.insert(std::string(state::caps::kLease));  // reading holds is the gate's job
            return state::Principal{name, ws.project_id(), ev.session_id, caps};
          };
          hooks::HttpHookReply r = hooks::answer_http_hook(
              *engine, req.method, req.path.substr(std::string_view("/hooks/").size()), req.body,
              principal_for, store);
          for (const auto& e : r.errors) spdlog::warn("http hook {}: {}", req.path, e);
          return mcp::HttpRouteResponse{r.status, "application/json", std::move(r.body)};
        });
  }
  // Escalations for humans (JSON): GET /escalations, GET /escalations/ID,
  // POST /escalations/ID/resolve {decision, proposal?}.
  http.routes.emplace_back("/escalations", escalation_http_route(store, ws));
  // The web console: / (exact) and /console/... (public routes: they authenticate themselves).
  add_console_routes(http, ws);
  auto env = std::make_shared<tools::ToolEnv>();
  env->store = &store;
  env->lease_default_ttl_ms = config.lease_default_ttl_ms;
  env->escalate = tools::make_escalation_filer(&store);
  AgentRegistrar registrar(store);
  env->principal = [&principals, &registrar](const mcp::CallContext& ctx) {
    state::Principal p = principals.resolve(ctx);
    registrar.seen(p, ctx.client_name);
    return p;
  };
  auto registry = std::make_shared<mcp::ToolRegistry>();
  env->registry = registry.get();
  env->fanout = config.fanout;
  env->command_gate = fanout_command_gate(config, ws.project().string());
  tools::register_all(*registry, env);
  mcp::McpServer server(server_options(ws), registry);
  if (observability) observability->attach(server);
  std::unique_ptr<Notifier> notifier = start_notifier(ws);
  const std::unique_ptr<Retention> retention = start_retention(ws);
  spdlog::info("keel serve --http {}: state {}", where, ws.state_dir().string());
  try {
    return mcp::serve_http(server, http);
  } catch (const std::runtime_error& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}

int run_serve(const Args& args, Workspace& ws) {
  if (args.has("stdio") == args.has("http")) {
    throw UsageError("choose one transport: --stdio or --http HOST:PORT");
  }
  std::signal(SIGPIPE, SIG_IGN);

  std::optional<std::string> agent = args.get("agent");
  if (!agent) {
    if (const char* env = std::getenv("KEEL_AGENT"); env && *env) agent = env;
  }
  if (agent && sanitize_agent(*agent) != *agent) {
    throw UsageError("--agent: use letters, digits, '.', '_' and '-' (at most 64)");
  }

  if (args.has("http")) return run_serve_http(*args.get("http"), agent, ws);

  std::unique_ptr<Observability> observability = start_observability(ws, nullptr);
  state::Store& store = ws.store();
  StdioPrincipal principal(agent, ws, store);
  LivenessSweeper sweeper(store, ws.project_id(), kSweepInterval);
  auto env = std::make_shared<tools::ToolEnv>();
  env->store = &store;
  env->lease_default_ttl_ms = ws.config().lease_default_ttl_ms;
  env->escalate = tools::make_escalation_filer(&store);
  env->principal = [&principal](const mcp::CallContext& ctx) { return principal.resolve(ctx); };

  auto registry = std::make_shared<mcp::ToolRegistry>();
  env->registry = registry.get();
  env->fanout = ws.config().fanout;
  env->command_gate = fanout_command_gate(ws.config(), ws.project().string());
  tools::register_all(*registry, env);
  mcp::McpServer server(server_options(ws), registry);
  if (observability) observability->attach(server);
  std::unique_ptr<Notifier> notifier = start_notifier(ws);
  const std::unique_ptr<Retention> retention = start_retention(ws);

  mcp::StdioOptions stdio;
  stdio.workers = ws.config().stdio_workers;
  stdio.session_id = "s-" + crypto::secure_random_hex(12);
  spdlog::info("keel serve --stdio: state {}", ws.state_dir().string());
  int rc = mcp::serve_stdio(server, 0, 1, stdio);

  if (auto who = principal.used()) {
    try {
      store.end_session(*who);
    } catch (const std::exception& e) {
      spdlog::warn("could not drop the session tier of {}: {}", who->agent, e.what());
    }
    // stdin closed: usually the agent exited or was killed. Once its process
    // is gone (a killed one is; one that exits may take a moment), its holds
    // go with it. A client that lives on (it restarts its server) keeps them;
    // a later exit is found by every other keel's sweeper.
    if (const auto& a = principal.anchor()) {
      const auto& table = *state::system_process_table();
      for (int i = 0; i < 6 && table.liveness(a->process) == state::Liveness::kAlive; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
      try {
        for (const auto& s : store.scavenge_dead_agents(*who, who->agent)) {
          spdlog::info("agent {} is gone: {} lease(s) freed", s.agent, s.names.size());
        }
      } catch (const std::exception& e) {
        spdlog::warn("could not free the leases of {}: {}", who->agent, e.what());
      }
    }
  }
  return rc;
}

}  // namespace

std::vector<Command> serve_commands() {
  return {Command{
      .words = {"serve"},
      .usage = "keel serve --stdio | --http HOST:PORT [--agent NAME] [options]",
      .summary = "serve MCP (leases, memory, journal) over stdin/stdout or HTTP",
      .details =
          "stdout carries only MCP messages; logs go to stderr. The agent name holds leases\n"
          "and owns a memory namespace: --agent NAME, else $KEEL_AGENT, else the agent session\n"
          "that started it (claude-code:<id>, codex:<id>, gemini:<id>: the same name its hooks\n"
          "find), else the client's name plus a random suffix. The session memory tier of\n"
          "this process is dropped when stdin closes; the leases of an agent whose process\n"
          "is gone are freed at once (SCAVENGE), by this or any keel process on the host.\n"
          "--http HOST:PORT serves Streamable HTTP at http://HOST:PORT/mcp (both MCP eras)\n"
          "to many agents; loopback only unless config http.principals holds bearer\n"
          "tokens. SIGINT/SIGTERM stop it after in-flight calls finish.",
      .options = {{"stdio", "", "speak MCP over stdin/stdout"},
                  {"http", "HOST:PORT", "speak MCP over HTTP, e.g. 127.0.0.1:7777"},
                  {"agent", "NAME", "the agent this server acts for (env KEEL_AGENT)"}},
      .run = run_serve}};
}

}  // namespace keel::cli

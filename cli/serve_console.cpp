// keel/cli/serve_console.cpp — the console's routes for keel serve --http (serve_surfaces.h):
// the console acts as a token's principal (config http.principals: its agent and
// capabilities), or, without tokens (loopback only), as "console" with the capabilities
// of the console's buttons besides an agent's defaults. Once listening, the server logs
// the console's URL and, when $KEEL_CONSOLE_URL_FILE names a file, writes it there
// with the server's pid
// (`keel console` learns the port of 127.0.0.1:0 so: cli/console_command.cpp).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "cli/serve_surfaces.h"
#include "console/console_routes.h"

namespace keel::cli {

void add_console_routes(mcp::HttpOptions& http, Workspace& ws) {
  const Config& config = ws.config();
  if (!config.console.enabled) return;
  console::ConsoleConfig c;
  c.store = &ws.store();
  c.project = ws.project_id();
  c.tokens = http.principals;
  c.principal_for = [&ws](const std::string& name) -> std::optional<state::Principal> {
    const auto& principals = ws.config().http_principals;
    auto it = principals.find(name);
    if (it == principals.end()) return std::nullopt;
    return state::Principal{it->second.agent, ws.project_id(), "", it->second.capabilities};
  };
  std::set<std::string> caps = state::default_agent_capabilities();
  for (const auto& cap : console::console_capabilities()) caps.insert(cap);
  c.local = state::Principal{"console", ws.project_id(), "", std::move(caps)};
  console::add_console_routes(http, std::move(c));

  std::string host = http.host;
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  const char* url_file = std::getenv("KEEL_CONSOLE_URL_FILE");
  http.on_listening = [host, url_file = std::string(url_file ? url_file : ""),
                       previous = std::move(http.on_listening)](unsigned short port) {
    if (previous) previous(port);
    const std::string url = "http://" + host + ":" + std::to_string(port) + "/";
    spdlog::info("console: {}", url);
    if (url_file.empty()) return;
    // Written whole, then renamed: a reader never sees half a URL.
    const std::string tmp = url_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << url << "\n" << ::getpid() << "\n";
    }
    std::error_code ec;
    std::filesystem::rename(tmp, url_file, ec);
    if (ec) spdlog::warn("console: cannot write {}: {}", url_file, ec.message());
  };
}

}  // namespace keel::cli

// tests/fuzz/fuzz_server.h — the keel MCP server the fuzz targets drive.
//
// One process-wide server with the real tools over a real SQLite store (in a
// fresh directory under /dev/shm when it exists, so commits cost no disk I/O),
// built on first use and never destroyed (libFuzzer exits without unwinding).
// Every wait (lease, escalation) is capped at 5 ms so that no input can block
// the fuzzer, and fanout may never run a command: the principal lacks
// fanout.command and the command gate refuses everything.
//
// Thread safety: fuzz_server() is called from the fuzzer's single thread; the
// server it returns is thread-safe (mcp/server.h).
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "mcp/server.h"
#include "state/store.h"
#include "tools/tools.h"

namespace keel::fuzz {

struct FuzzServer {
  std::unique_ptr<state::Store> store;
  std::shared_ptr<mcp::ToolRegistry> registry;
  std::unique_ptr<mcp::McpServer> server;
};

inline FuzzServer& fuzz_server() {
  static FuzzServer* fs = [] {
    spdlog::set_level(spdlog::level::off);  // the fuzzer's output stays readable
    std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string tmpl = base + "/keel-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) ::abort();
    auto* f = new FuzzServer;
    state::StoreOptions so;
    so.dir = tmpl;
    so.synchronous = state::Synchronous::kNormal;
    so.lease_max_wait_ms = 5;
    so.escalation_max_wait_ms = 5;
    f->store = state::open_sqlite_store(so);
    auto env = std::make_shared<tools::ToolEnv>();
    env->store = f->store.get();
    env->principal = [](const mcp::CallContext& ctx) {
      state::Principal p;
      p.agent = ctx.auth_subject.empty() ? "fuzz" : ctx.auth_subject;
      p.project = "/fuzz/project";
      p.session_id = ctx.session_id;
      for (const auto& c : state::all_capabilities()) {
        if (c != state::caps::kFanoutCommand) p.capabilities.insert(c);
      }
      return p;
    };
    env->command_gate = [](const state::Principal&, const std::vector<std::string>&,
                           const std::string&) {
      return tools::CommandVerdict{false, "the fuzzer never runs commands", "fuzz"};
    };
    env->fanout.max_branches = 16;
    env->fanout.max_concurrency = 2;
    env->fanout.default_branch_timeout_ms = 20;
    env->fanout.max_branch_timeout_ms = 20;
    env->fanout.max_wall_ms = 200;
    env->fanout.max_attempts = 2;
    env->escalate = tools::make_escalation_filer(f->store.get());
    f->registry = std::make_shared<mcp::ToolRegistry>();
    env->registry = f->registry.get();
    tools::register_all(*f->registry, env);
    mcp::ServerOptions opts;
    opts.max_message_bytes = 64 << 10;  // the fuzzer's inputs are smaller; keeps the limit reachable
    f->server = std::make_unique<mcp::McpServer>(opts, f->registry);
    return f;
  }();
  return *fs;
}

}  // namespace keel::fuzz

// dialect_agents.h — the seven agents' adapters. One class serves them all: what differs from
// agent to agent (event and field names, the decision JSON, exit codes) is the pair of functions
// each dialect_<agent>.cpp supplies, and that file's first comment states the agent's input
// fields and exact output (Codex, which speaks Claude's protocol, is served by dialect_claude.cpp).
// Internal to hooks/; everything else uses make_dialect().
#pragma once

#include "hooks/dialect.h"
#include "hooks/dialect_util.h"

#include <boost/json.hpp>

#include <string>
#include <string_view>

namespace keel::hooks {

// What one agent's adapter does (dialect.h states the contract).
struct AgentProtocol {
  std::string_view name;
  // Fills `ev`, whose dialect is already set (error messages name it), from the decoded stdin;
  // the caller keeps the object as HookEvent::raw.
  void (*parse)(const boost::json::object& o, HookEvent& ev);
  RenderResult (*render)(const HookEvent& ev, const HookDecision& dec);
  // Null: Dialect::render_unreadable (the reason on stderr, exit 2).
  RenderResult (*render_unreadable)(std::string_view error) = nullptr;
};

extern const AgentProtocol kClaudeProtocol, kCodexProtocol, kGeminiProtocol, kCursorProtocol, kCopilotProtocol,
    kWindsurfProtocol, kClineProtocol;

template <const AgentProtocol& P>
class AgentDialect final : public Dialect {
 public:
  std::string_view name() const noexcept override { return P.name; }

  HookEvent parse(std::string_view stdin_json) const override {
    boost::json::object o = dutil::parse_object(stdin_json, P.name);
    HookEvent ev;
    ev.dialect = std::string(P.name);
    P.parse(o, ev);
    ev.raw = std::move(o);
    return ev;
  }

  RenderResult render(const HookEvent& ev, const HookDecision& dec) const override { return P.render(ev, dec); }

  RenderResult render_unreadable(std::string_view error) const override {
    return P.render_unreadable ? P.render_unreadable(error) : Dialect::render_unreadable(error);
  }
};

using ClaudeDialect = AgentDialect<kClaudeProtocol>;
using CodexDialect = AgentDialect<kCodexProtocol>;
using GeminiDialect = AgentDialect<kGeminiProtocol>;
using CursorDialect = AgentDialect<kCursorProtocol>;
using CopilotDialect = AgentDialect<kCopilotProtocol>;
using WindsurfDialect = AgentDialect<kWindsurfProtocol>;
using ClineDialect = AgentDialect<kClineProtocol>;

}  // namespace keel::hooks

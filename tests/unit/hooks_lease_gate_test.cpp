// What a tool call writes, as the lease gate sees it, and the gate's verdicts.
#include <catch2/catch.hpp>

#include <filesystem>

#include "hooks/lease_gate.h"
#include "hooks_test_util.h"
#include "state_test_util.h"

using namespace keel::hooks;
using keel::hooks::testing::TwoAgents;
namespace fs = std::filesystem;

namespace {
HookEvent shell(std::string command) {
  HookEvent ev;
  ev.kind = EventKind::PreToolUse;
  ev.tool = ToolKind::Shell;
  ev.tool_name = "Bash";
  ev.cwd = "/repo";
  ev.command = std::move(command);
  return ev;
}
HookEvent file_tool(ToolKind kind, std::string name, std::string path) {
  HookEvent ev;
  ev.kind = EventKind::PreToolUse;
  ev.tool = kind;
  ev.tool_name = std::move(name);
  ev.cwd = "/repo";
  ev.file_paths = {std::move(path)};
  return ev;
}
using Paths = std::vector<std::string>;

}  // namespace

TEST_CASE("written paths of file tools and shell writers") {
  CHECK(written_paths(file_tool(ToolKind::Edit, "Edit", "/repo/a.cc")) == Paths{"/repo/a.cc"});
  CHECK(written_paths(file_tool(ToolKind::Write, "Write", "src/../b.cc")) == Paths{"/repo/b.cc"});
  CHECK(written_paths(file_tool(ToolKind::Read, "Read", "/repo/a.cc")).empty());
  CHECK(written_paths(shell("echo x > out.txt 2>/dev/null")) == Paths{"/repo/out.txt"});
  CHECK(written_paths(shell("cat a >> /tmp/log")) == Paths{"/tmp/log"});
  CHECK(written_paths(shell("rm -f a.o b.o")) == Paths{"/repo/a.o", "/repo/b.o"});
  CHECK(written_paths(shell("cp -r src/x dst/y")) == Paths{"/repo/dst/y"});
  CHECK(written_paths(shell("sed -i 's/a/b/' f1 f2")) == Paths{"/repo/f1", "/repo/f2"});
  CHECK(written_paths(shell("git status && ls -la")).empty());
  CHECK(written_paths(shell("sudo tee /etc/hosts < x")) == Paths{"/etc/hosts"});
  CHECK(written_paths(shell("rm \"$X\"")).empty());  // unresolved: the permission gate's job
}

TEST_CASE("the lease gate denies a write under another agent's lease, not the holder's") {
  TwoAgents env;
  auto& store = env.store;
  const keel::state::Principal& a = env.a;
  const keel::state::Principal& b = env.b;
  keel::state::AcquireRequest req;
  req.name = "dir:/repo/src";
  req.ttl_ms = 60'000;
  REQUIRE(store->acquire_lease(a, req).granted);

  LeaseGate gate;
  auto edit = file_tool(ToolKind::Edit, "Edit", "/repo/src/deep/x.cc");
  HookDecision d = gate.evaluate(*store, b, edit);
  CHECK(d.outcome == Outcome::Deny);
  CHECK_THAT(d.reason, Catch::Contains("leased by agent-a") && Catch::Contains("dir:/repo/src/"));
  CHECK(gate.evaluate(*store, a, edit).outcome == Outcome::Continue);
  CHECK(gate.evaluate(*store, b, shell("touch src/new.cc")).outcome == Outcome::Deny);
  CHECK(gate.evaluate(*store, b, shell("touch docs/new.md")).outcome == Outcome::Continue);
  auto post = edit;
  post.kind = EventKind::PostToolUse;
  CHECK(gate.evaluate(*store, b, post).outcome == Outcome::Continue);
}

TEST_CASE("auto_lease: a free write takes a short lease for the writer, which then blocks others") {
  TwoAgents env;
  auto& store = env.store;
  const keel::state::Principal& a = env.a;
  const keel::state::Principal& b = env.b;
  const LeaseGate gate({.auto_lease = true, .auto_lease_ttl_ms = 30'000});

  // agent-a edits a file nobody holds: let through, and now it holds file:/repo/a.cc.
  HookDecision d = gate.evaluate(*store, a, file_tool(ToolKind::Edit, "Edit", "/repo/a.cc"));
  CHECK(d.outcome == Outcome::Continue);
  CHECK(d.rule_id == "lease:auto");
  CHECK_THAT(d.reason, Catch::Contains("file:/repo/a.cc"));
  auto held = store->list_leases(a, "file:/repo/a.cc");
  REQUIRE(held.size() == 1);
  CHECK(held[0].holder == "agent-a");
  CHECK(held[0].ttl_ms == 30'000);
  CHECK(held[0].mode == keel::state::LeaseMode::kExclusive);

  // agent-b's write to it (through a shell redirection) is denied, naming agent-a.
  HookDecision other = gate.evaluate(*store, b, shell("echo x > a.cc"));
  CHECK(other.outcome == Outcome::Deny);
  CHECK(other.rule_id == "lease:file:/repo/a.cc");
  CHECK_THAT(other.reason, Catch::Contains("agent-a"));

  // agent-a writing again renews its lease instead of taking a second one.
  const std::int64_t token = held[0].token;
  CHECK(gate.evaluate(*store, a, file_tool(ToolKind::Write, "Write", "a.cc")).outcome ==
        Outcome::Continue);
  held = store->list_leases(a, "file:/repo/a.cc");
  REQUIRE(held.size() == 1);
  CHECK(held[0].token == token);

  // A longer lease agent-a took itself is left alone (not shortened or renewed).
  keel::state::AcquireRequest own;
  own.name = "file:/repo/b.cc";
  own.ttl_ms = 3'600'000;
  const auto own_lease = store->acquire_lease(a, own).lease;
  CHECK(gate.evaluate(*store, a, file_tool(ToolKind::Edit, "Edit", "/repo/b.cc")).outcome ==
        Outcome::Continue);
  held = store->list_leases(a, "file:/repo/b.cc");
  REQUIRE(held.size() == 1);
  CHECK(held[0].expires_at_ms == own_lease->expires_at_ms);

  // Reads take nothing; neither does a PermissionRequest (the PreToolUse that follows does).
  CHECK(gate.evaluate(*store, b, file_tool(ToolKind::Read, "Read", "/repo/c.cc")).rule_id.empty());
  HookEvent ask = file_tool(ToolKind::Edit, "Edit", "/repo/c.cc");
  ask.kind = EventKind::PermissionRequest;
  CHECK(gate.evaluate(*store, b, ask).rule_id.empty());
  CHECK(store->list_leases(b, "file:/repo/c.cc").empty());

  // Without auto_lease the gate only reads.
  CHECK(LeaseGate().evaluate(*store, b, file_tool(ToolKind::Edit, "Edit", "/repo/d.cc")).rule_id.empty());
  CHECK(store->list_leases(b, "file:/repo/d.cc").empty());
}

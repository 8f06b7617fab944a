// apply_patch run as a shell command (Codex's model often does): a write of every file its patch
// names, for the lease gate and the permission gate alike; the header parser shared with the
// apply_patch tool. Inputs are Codex-shaped PreToolUse events parsed by the codex dialect.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "hooks/apply_patch.h"
#include "hooks/dialect.h"
#include "hooks/lease_gate.h"
#include "hooks/permission_gate.h"
#include "hooks_test_util.h"
#include "state_test_util.h"

using namespace keel::hooks;
using keel::hooks::testing::TwoAgents;
namespace json = boost::json;

namespace {

using Paths = std::vector<std::string>;

// A Codex PreToolUse of shell tool `tool` whose tool_input.<key> is `command` (a string, or
// local_shell's argv array), as Codex sends it.
HookEvent codex_event(json::value command, std::string_view tool, std::string_view cwd, std::string_view key) {
  json::object in{{"session_id", "sess-1"},
                  {"turn_id", "turn-1"},
                  {"transcript_path", nullptr},
                  {"cwd", cwd},
                  {"hook_event_name", "PreToolUse"},
                  {"model", "gpt-5-codex"},
                  {"tool_name", tool},
                  {"tool_input", json::object{{key, command}}},
                  {"tool_use_id", "call_1"}};
  return make_dialect("codex")->parse(json::serialize(in));
}
HookEvent codex(std::string_view command, std::string_view tool = "Bash", std::string_view cwd = "/repo",
                std::string_view key = "command") {
  return codex_event(json::string(command), tool, cwd, key);
}
HookEvent codex(json::array argv, std::string_view tool = "local_shell") {
  return codex_event(std::move(argv), tool, "/repo", "command");
}

const char* kUpdateMain =
    "*** Begin Patch\n*** Update File: src/main.go\n@@\n-old\n+new\n*** End Patch\n";

std::string heredoc(std::string_view patch, std::string_view open = "<<'EOF'", std::string_view close = "EOF") {
  return "apply_patch " + std::string(open) + "\n" + std::string(patch) + std::string(close) + "\n";
}

PermissionGate gate_from(const char* rules) {
  GateConfig cfg = parse_gate_config(json::parse(rules));
  cfg.home = "/home/u";
  return PermissionGate(cfg);
}

}  // namespace

TEST_CASE("patch headers: one parser for the tool and the shell form", "[hooks][apply_patch]") {
  CHECK(patch_header_paths("*** Begin Patch\n*** Add File: a.txt\n+hi\n*** Update File: src/b.rs\n"
                           "*** Move to: src/c.rs\n@@\n-x\n+y\n*** Delete File: old.txt\n*** End Patch\n") ==
        Paths{"a.txt", "src/b.rs", "src/c.rs", "old.txt"});
  // Blank padding around a marker line (Codex trims it), CRLF, a file named twice, unified diffs.
  CHECK(patch_header_paths("  *** Update File: x.c  \r\n*** Update File: x.c\n+++ b/y.c\n--- a/y.c\n") ==
        Paths{"x.c", "y.c"});
  // A content line that looks like a marker is not one unless it starts the line with "***".
  CHECK(patch_header_paths("*** Update File: a\n@@\n+ *** Add File: b\n-*** Delete File: c\n") == Paths{"a"});
  CHECK(patch_header_paths("").empty());
  CHECK(patch_header_paths("*** Add File: \n").empty());

  // The apply_patch tool keeps its paths from the same parser.
  HookEvent tool = make_dialect("codex")->parse(
      R"({"hook_event_name":"PreToolUse","turn_id":"t","cwd":"/repo","tool_name":"apply_patch","tool_input":)"
      R"({"command":"*** Begin Patch\n *** Update File: src/a.rs\n*** Move to: src/b.rs\n*** End Patch"}})");
  CHECK(tool.file_paths == Paths{"src/a.rs", "src/b.rs"});
  CHECK(written_paths(tool) == Paths{"/repo/src/a.rs", "/repo/src/b.rs"});
}

TEST_CASE("apply_patch in a shell command writes the files its patch names", "[hooks][apply_patch]") {
  // Heredoc, quoted delimiter: Codex's own form.
  HookEvent ev = make_dialect("codex")->parse(
      R"({"session_id":"s","turn_id":"t1","model":"gpt-5-codex","transcript_path":null,"cwd":"/repo",)"
      R"("hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":)"
      R"("apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: src/main.go\n@@\n-old\n+new\n*** End Patch\nEOF\n"},)"
      R"("tool_use_id":"call_1"})");
  REQUIRE(ev.tool == ToolKind::Shell);
  CHECK(written_paths(ev) == Paths{"/repo/src/main.go"});
  // Unquoted and <<- delimiters (tabs stripped), "applypatch", a path outside the cwd.
  CHECK(written_paths(codex(heredoc(kUpdateMain, "<<EOF"))) == Paths{"/repo/src/main.go"});
  CHECK(written_paths(codex(heredoc("\t*** Begin Patch\n\t*** Add File: a.txt\n\t+hi\n\t*** End Patch\n", "<<-EOF",
                                    "\tEOF"))) == Paths{"/repo/a.txt"});
  CHECK(written_paths(codex("applypatch <<'PATCH'\n*** Begin Patch\n*** Delete File: ../other/x.txt\n*** End Patch\nPATCH")) ==
        Paths{"/other/x.txt"});
  // Add, Update + Move to, Delete: every file, two or more in one patch.
  CHECK(written_paths(codex(heredoc("*** Begin Patch\n*** Add File: docs/new.md\n+# new\n*** Update File: src/a.go\n"
                                    "*** Move to: src/b.go\n@@\n-a\n+b\n*** Delete File: /tmp/gone.txt\n*** End Patch\n"))) ==
        Paths{"/repo/docs/new.md", "/repo/src/a.go", "/repo/src/b.go", "/tmp/gone.txt"});
  // argv form in a command string: the patch as one (single-quoted) argument, or double-quoted
  // with \n written out.
  CHECK(written_paths(codex("apply_patch '*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch'")) ==
        Paths{"/repo/a.txt"});
  CHECK(written_paths(codex(R"(apply_patch "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch")")) ==
        Paths{"/repo/a.txt"});
  // local_shell's argv arrays: ["apply_patch", patch] and ["bash", "-lc", heredoc].
  CHECK(written_paths(codex(json::array{"apply_patch", "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch"},
                            "local_shell")) == Paths{"/repo/a.txt"});
  CHECK(written_paths(codex(json::array{"bash", "-lc", heredoc(kUpdateMain)}, "local_shell")) ==
        Paths{"/repo/src/main.go"});
  // exec_command's "cmd", the shell tool wrapping: bash -lc "...", sudo, a heredoc fed to sh.
  CHECK(written_paths(codex(heredoc(kUpdateMain), "exec_command", "/repo", "cmd")) == Paths{"/repo/src/main.go"});
  CHECK(written_paths(codex("bash -lc \"" + heredoc(kUpdateMain) + "\"", "shell")) == Paths{"/repo/src/main.go"});
  CHECK(written_paths(codex("sudo " + heredoc(kUpdateMain))) == Paths{"/repo/src/main.go"});
  CHECK(written_paths(codex("sh <<'SH'\n" + heredoc(kUpdateMain) + "SH\n")) == Paths{"/repo/src/main.go"});
  // stdin given literally: a here-string, a pipe from printf.
  CHECK(written_paths(codex("apply_patch <<< '*** Begin Patch\n*** Add File: h.txt\n+x\n*** End Patch'")) ==
        Paths{"/repo/h.txt"});
  CHECK(written_paths(codex("printf '%s' '*** Begin Patch\n*** Add File: p.txt\n+x\n*** End Patch' | apply_patch")) ==
        Paths{"/repo/p.txt"});
  // The shell's other writes are still there.
  CHECK(written_paths(codex(heredoc(kUpdateMain) + "touch done.txt\n")) ==
        Paths{"/repo/done.txt", "/repo/src/main.go"});
  // Nothing for lines that run no apply_patch, or a patch without file headers.
  CHECK(written_paths(codex("git apply fix.diff && echo apply_patch")).empty());
  CHECK(written_paths(codex("apply_patch 'not a patch'")).empty());
}

TEST_CASE("apply_patch paths are relative to the directory a cd before it moves to", "[hooks][apply_patch]") {
  CHECK(written_paths(codex("cd sub && " + heredoc(kUpdateMain))) == Paths{"/repo/sub/src/main.go"});
  CHECK(written_paths(codex("cd /srv/app; " + heredoc(kUpdateMain))) == Paths{"/srv/app/src/main.go"});
  CHECK(written_paths(codex("cd a && cd ../b && " + heredoc(kUpdateMain))) == Paths{"/repo/b/src/main.go"});
  // Inside bash -lc, and a cd outside the bash -lc that runs it.
  CHECK(written_paths(codex(json::array{"bash", "-lc", "cd sub && " + heredoc(kUpdateMain)}, "local_shell")) ==
        Paths{"/repo/sub/src/main.go"});
  CHECK(written_paths(codex("cd sub && bash -lc \"" + heredoc(kUpdateMain) + "\"; cd /elsewhere")) ==
        Paths{"/repo/sub/src/main.go"});
  CHECK(written_paths(codex("(cd sub && " + heredoc(kUpdateMain) + ")")) == Paths{"/repo/sub/src/main.go"});
  // A cd that cannot reach it: in a subshell, a pipeline, another shell, a substitution, after it.
  CHECK(written_paths(codex("(cd sub); " + heredoc(kUpdateMain))) == Paths{"/repo/src/main.go"});
  CHECK(written_paths(codex("cd sub | cat; " + heredoc(kUpdateMain))) == Paths{"/repo/src/main.go"});
  CHECK(written_paths(codex("bash -c 'cd sub'; " + heredoc(kUpdateMain))) == Paths{"/repo/src/main.go"});
  CHECK(written_paths(codex("echo $(cd sub && pwd); " + heredoc(kUpdateMain))) == Paths{"/repo/src/main.go"});
  // cd ~ and a bare cd go home; an unknown directory leaves relative paths unknown (the lease
  // gate skips them, the permission gate asks), absolute ones are still known.
  const char* home = std::getenv("HOME");
  if (home && *home && std::string_view(home) != "/")
    CHECK(written_paths(codex("cd ~/w && " + heredoc(kUpdateMain))) == Paths{std::string(home) + "/w/src/main.go"});
  CHECK(written_paths(codex("cd \"$DIR\" && " + heredoc(kUpdateMain))).empty());
  CHECK(written_paths(codex("cd - && " + heredoc(kUpdateMain))).empty());
  CHECK(written_paths(codex("cd \"$D\"; " + heredoc("*** Begin Patch\n*** Add File: /repo/abs.txt\n+x\n*** End Patch\n"))) ==
        Paths{"/repo/abs.txt"});

  // The same directory for the permission gate, which states why it asks.
  auto g = gate_from("[]");
  CHECK(g.check_shell("cd sub && " + heredoc(kUpdateMain), "/repo").outcome == Outcome::Continue);
  GateVerdict v = g.check_shell("cd \"$DIR\" && " + heredoc(kUpdateMain), "/repo");
  CHECK(v.outcome == Outcome::Ask);
  CHECK(v.rule_id == "builtin:patch.unresolved");
  CHECK_THAT(v.reason, Catch::Contains("directory it runs in is not known"));
}

TEST_CASE("a patch the analyser cannot read is asked about, never allowed silently", "[hooks][apply_patch]") {
  auto g = gate_from("[]");
  for (const std::string cmd : {"apply_patch \"$PATCH\"", "apply_patch \"$(cat fix.patch)\"", "apply_patch < fix.patch",
                                "cat fix.patch | apply_patch", "apply_patch", "apply_patch <<< \"$P\"",
                                "bash -lc 'apply_patch \"$PATCH\"'", "ls *.patch | xargs -n1 apply_patch",
                                "find patches -name '*.patch' -exec apply_patch {} \\;",
                                "apply_patch <<EOF\n*** Begin Patch\n*** Update File: $F\n@@\n-a\n+b\n*** End Patch\nEOF",
                                "apply_patch <<EOF\n*** Begin Patch\n*** Update File: a\n@@\n-a\n+$(cat x)\n*** End Patch\nEOF"}) {
    INFO(cmd);
    GateVerdict v = g.check_shell(cmd, "/repo");
    CHECK(v.outcome == Outcome::Ask);
    CHECK(v.rule_id == "builtin:patch.unresolved");
    CHECK_THAT(v.reason, Catch::Contains("writes the files its patch names"));
  }
  CHECK_THAT(g.check_shell("apply_patch \"$PATCH\"", "/repo").reason, Catch::Contains("\"line\""));
  // Through the whole gate, from a Codex event; strict mode denies; a user rule for the command
  // that names the built-in rule in "overrides" (or permission.disable) decides instead of it;
  // an allow rule that does not name it leaves the ask standing (the catalog is a floor).
  CHECK(g.evaluate(codex("apply_patch \"$PATCH\"")).outcome == Outcome::Ask);
  CHECK(gate_from(R"({"strict":true})").check_shell("apply_patch \"$PATCH\"", "/repo").outcome == Outcome::Deny);
  CHECK(gate_from(R"([{"decision":"allow","command":"apply_patch"}])").check_shell("apply_patch \"$P\"", "/repo").outcome ==
        Outcome::Ask);
  CHECK(gate_from(R"([{"decision":"allow","command":"apply_patch","overrides":["builtin:patch.unresolved"]}])")
            .check_shell("apply_patch \"$P\"", "/repo")
            .outcome == Outcome::Allow);
  CHECK(gate_from(R"({"disable":["patch.*"]})").check_shell("apply_patch \"$P\"", "/repo").outcome == Outcome::Continue);
  // The lease gate cannot check what it cannot name.
  CHECK(written_paths(codex("apply_patch \"$PATCH\"")).empty());
}

TEST_CASE("permission path rules apply to the files a shell apply_patch writes", "[hooks][apply_patch]") {
  auto g = gate_from(R"([
    {"id":"no-env","decision":"deny","tool":"Write|Edit","path":".env","reason":"secrets"},
    {"id":"no-migrations","decision":"ask","tool":"apply_patch","path":"db/migrations/**"},
    {"id":"in-project","decision":"allow","tool":"Edit","path":"/repo/**"},
    {"id":"outside","decision":"deny","tool":"Edit","path":"/**","reason":"outside the project"}
  ])");
  const std::string env_patch = "*** Begin Patch\n*** Update File: config/.env\n@@\n-A=1\n+A=2\n*** End Patch\n";
  GateVerdict v = g.check_shell(heredoc(env_patch), "/repo");
  CHECK(v.outcome == Outcome::Deny);
  CHECK(v.rule_id == "no-env");
  CHECK(v.subject == "/repo/config/.env");
  CHECK_THAT(v.reason, Catch::Contains("apply_patch in a shell command") && Catch::Contains("secrets"));
  // The same through a Codex event, the argv form and bash -lc.
  CHECK(g.evaluate(codex(heredoc(env_patch))).outcome == Outcome::Deny);
  CHECK(g.evaluate(codex(json::array{"apply_patch", env_patch}, "local_shell")).outcome == Outcome::Deny);
  CHECK(g.evaluate(codex(json::array{"bash", "-lc", heredoc(env_patch)}, "local_shell")).outcome == Outcome::Deny);
  // Relative to the cwd, to a cd, and a Move to: header.
  CHECK(g.check_shell(heredoc("*** Begin Patch\n*** Add File: db/migrations/002.sql\n+x\n*** End Patch\n"), "/repo")
            .rule_id == "no-migrations");
  CHECK(g.check_shell("cd db && " + heredoc("*** Begin Patch\n*** Add File: migrations/002.sql\n+x\n*** End Patch\n"),
                      "/repo")
            .rule_id == "no-migrations");
  v = g.check_shell("cd .. && " + heredoc("*** Begin Patch\n*** Update File: other/x.c\n@@\n-a\n+b\n*** End Patch\n"),
                    "/repo");
  CHECK(v.outcome == Outcome::Deny);
  CHECK(v.rule_id == "outside");
  CHECK(g.check_shell(heredoc("*** Begin Patch\n*** Update File: src/a.c\n*** Move to: /etc/a.c\n*** End Patch\n"),
                      "/repo")
            .rule_id == "outside");
  // A patch wholly inside the project passes its path rules; the command itself has no rule, so
  // the gate has no opinion (the agent's own approval applies).
  CHECK(g.check_shell(heredoc(kUpdateMain), "/repo").outcome == Outcome::Continue);
  CHECK(gate_from(R"([{"decision":"allow","tool":"Bash"},{"decision":"deny","path":".env"}])")
            .check_shell(heredoc(kUpdateMain), "/repo")
            .outcome == Outcome::Allow);
  // Without rules, the catalog's write checks: hook configuration, important files.
  auto plain = gate_from("[]");
  CHECK(plain.check_shell(heredoc(kUpdateMain), "/repo").outcome == Outcome::Continue);
  v = plain.check_shell(heredoc("*** Begin Patch\n*** Add File: .claude/settings.json\n+{}\n*** End Patch\n"), "/repo");
  CHECK(v.outcome == Outcome::Ask);
  CHECK(v.rule_id == "builtin:hooks.config");
  CHECK(plain.check_shell("cd ~ && " + heredoc("*** Begin Patch\n*** Update File: .ssh/authorized_keys\n@@\n+k\n*** End Patch\n"),
                          "/repo")
            .rule_id == "builtin:fs.overwrite-important");
}

TEST_CASE("the lease gate denies a shell apply_patch of a leased file, naming the holder", "[hooks][apply_patch]") {
  TwoAgents env;
  keel::state::AcquireRequest req;
  req.name = "file:/repo/src/main.go";
  req.ttl_ms = 60'000;
  REQUIRE(env.store->acquire_lease(env.a, req).granted);

  LeaseGate gate;
  for (const HookEvent& ev : {codex(heredoc(kUpdateMain)), codex(json::array{"bash", "-lc", heredoc(kUpdateMain)}, "local_shell"),
                              codex("cd src && " + heredoc("*** Begin Patch\n*** Update File: main.go\n@@\n-a\n+b\n*** End Patch\n")),
                              codex(json::array{"apply_patch", "*** Begin Patch\n*** Add File: docs/x.md\n+x\n*** Update File: "
                                                               "src/main.go\n@@\n-a\n+b\n*** End Patch"},
                                    "local_shell")}) {
    INFO(ev.command);
    HookDecision d = gate.evaluate(*env.store, env.b, ev);
    CHECK(d.outcome == Outcome::Deny);
    CHECK(d.rule_id == "lease:file:/repo/src/main.go");
    CHECK_THAT(d.reason, Catch::Contains("leased by agent-a"));
    CHECK(gate.evaluate(*env.store, env.a, ev).outcome == Outcome::Continue);  // the holder's own write
  }
  // An unleased file goes through; with auto_lease the writer takes it.
  const HookEvent other = codex(heredoc("*** Begin Patch\n*** Add File: docs/new.md\n+x\n*** End Patch\n"));
  CHECK(gate.evaluate(*env.store, env.b, other).outcome == Outcome::Continue);
  const LeaseGate auto_gate({.auto_lease = true, .auto_lease_ttl_ms = 30'000});
  HookDecision d = auto_gate.evaluate(*env.store, env.b, other);
  CHECK(d.outcome == Outcome::Continue);
  CHECK(d.rule_id == "lease:auto");
  REQUIRE(env.store->list_leases(env.b, "file:/repo/docs/new.md").size() == 1);
  CHECK(env.store->list_leases(env.b, "file:/repo/docs/new.md")[0].holder == "agent-b");
}

// keel install: the agent settings files it writes, as the agents will read
// them. Runs the real binary with HOME and the working directory pointed at a
// fresh temporary home and project (a git root) for every test.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "cli/settings_diff.h"
#include "cli/settings_json.h"
#include "cli/settings_toml.h"
#include "cli_test_util.h"

namespace fs = std::filesystem;
namespace json = boost::json;

using namespace keel::cli::testing;

namespace {

json::object read_json(const fs::path& p) {
  REQUIRE(fs::exists(p));
  return json::parse(slurp(p)).as_object();
}

std::size_t backups_of(const fs::path& p) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(p.parent_path())) {
    if (e.path().filename().string().rfind(p.filename().string() + ".keel-backup-", 0) == 0) ++n;
  }
  return n;
}

// A temporary $HOME and a project (a git root) for one test.
struct Sandbox : TempProject {
  std::string binary = fs::canonical(KEEL_BINARY).string();

  Run keel(const std::string& args) const {
    return shell("cd " + quote(project.string()) + " && env -u CODEX_HOME -u KEEL_CONFIG -u KEEL_STATE_DIR HOME=" +
                 quote(home.string()) + " " + quote(KEEL_BINARY) + " " + args);
  }
};

// `keel install claude` wrote nothing: Claude's settings still hold
// `settings_text`, no .mcp.json (not even that file, which was fine), no backup.
void check_nothing_written(const Sandbox& s, const fs::path& settings, const std::string& settings_text) {
  CHECK(slurp(settings) == settings_text);
  CHECK_FALSE(fs::exists(s.project / ".mcp.json"));
  CHECK(backups_of(settings) == 0);
}

}  // namespace

TEST_CASE("keel install claude writes the MCP server and exec-form hooks", "[install]") {
  Sandbox s;
  Run r = s.keel("install claude");
  INFO(r.out);
  REQUIRE(r.status == 0);

  auto mcp = read_json(s.project / ".mcp.json");
  auto& server = mcp.at("mcpServers").at("keel").as_object();
  CHECK(server.at("command").as_string() == s.binary);
  CHECK(server.at("args") == json::array{"serve", "--stdio"});
  CHECK(server.at("type").as_string() == "stdio");

  auto settings = read_json(s.project / ".claude" / "settings.json");
  auto& hooks = settings.at("hooks").as_object();
  for (const char* event : {"PreToolUse", "PostToolUse", "PostToolUseFailure", "UserPromptSubmit", "Stop",
                            "SubagentStop", "SessionStart"}) {
    INFO(event);
    REQUIRE(hooks.contains(event));
    auto& groups = hooks.at(event).as_array();
    REQUIRE(groups.size() == 1);
    auto& handler = groups[0].at("hooks").as_array().at(0).as_object();
    CHECK(handler.at("type").as_string() == "command");
    CHECK(handler.at("command").as_string() == s.binary);
    CHECK(handler.at("args") == json::array{"hook", "--dialect", "claude"});
  }
  CHECK(hooks.at("Stop").at(0).at("hooks").at(0).at("timeout").as_int64() >= 60);
  // Nothing lands in the user's home at project scope.
  CHECK_FALSE(fs::exists(s.home / ".claude.json"));
  CHECK_FALSE(fs::exists(s.home / ".claude"));
}

TEST_CASE("keel install claude --scope user writes ~/.claude.json and ~/.claude/settings.json", "[install]") {
  Sandbox s;
  spit(s.home / ".claude.json", R"({"numStartups": 12, "projects": {"/x": {"allowedTools": []}}})");
  Run r = s.keel("install claude --scope user");
  INFO(r.out);
  REQUIRE(r.status == 0);
  auto state = read_json(s.home / ".claude.json");
  CHECK(state.at("numStartups").as_int64() == 12);
  CHECK(state.at("projects").at("/x").at("allowedTools").as_array().empty());
  CHECK(state.at("mcpServers").at("keel").at("command").as_string() == s.binary);
  CHECK(read_json(s.home / ".claude" / "settings.json").at("hooks").as_object().contains("PreToolUse"));
  CHECK_FALSE(fs::exists(s.project / ".mcp.json"));
}

TEST_CASE("keel install codex writes a [mcp_servers.keel] block and hooks.json in ~/.codex", "[install]") {
  Sandbox s;
  const std::string original =
      "model = \"o4\"\n\n[mcp_servers.github]\ncommand = \"gh-mcp\"\n\n[profiles.fast]\nmodel = \"mini\"\n";
  spit(s.home / ".codex" / "config.toml", original);
  Run r = s.keel("install codex");
  INFO(r.out);
  REQUIRE(r.status == 0);

  std::string toml = slurp(s.home / ".codex" / "config.toml");
  INFO(toml);
  CHECK(toml.rfind(original, 0) == 0);  // the user's bytes untouched, keel's block after them
  CHECK(toml.find("[mcp_servers.keel]\ncommand = \"" + s.binary + "\"\nargs = [\"serve\", \"--stdio\"]\n") !=
        std::string::npos);

  auto hooks = read_json(s.home / ".codex" / "hooks.json");
  for (const char* event : {"PreToolUse", "PostToolUse", "Stop", "UserPromptSubmit", "SessionStart"}) {
    INFO(event);
    auto& handler = hooks.at("hooks").at(event).at(0).at("hooks").at(0).as_object();
    CHECK(handler.at("command").as_string() == s.binary + " hook --dialect codex");
  }
  CHECK(hooks.size() == 1);  // Codex refuses unknown top-level keys in hooks.json
  CHECK_FALSE(fs::exists(s.project / ".codex"));

  // And out again, byte for byte.
  Run u = s.keel("install codex --uninstall");
  INFO(u.out);
  REQUIRE(u.status == 0);
  CHECK(slurp(s.home / ".codex" / "config.toml") == original);
  CHECK_FALSE(fs::exists(s.home / ".codex" / "hooks.json"));  // it held only keel's hooks
}

TEST_CASE("keel install gemini and cursor write their own formats", "[install]") {
  Sandbox s;
  REQUIRE(s.keel("install gemini").status == 0);
  auto gemini = read_json(s.project / ".gemini" / "settings.json");
  CHECK(gemini.at("mcpServers").at("keel").at("command").as_string() == s.binary);
  for (const char* event : {"BeforeTool", "AfterTool", "AfterAgent", "BeforeAgent", "SessionStart"}) {
    INFO(event);
    auto& handler = gemini.at("hooks").at(event).at(0).at("hooks").at(0).as_object();
    CHECK(handler.at("command").as_string() == s.binary + " hook --dialect gemini");
    CHECK(handler.at("timeout").as_int64() >= 1000);  // milliseconds
  }

  REQUIRE(s.keel("install cursor").status == 0);
  CHECK(read_json(s.project / ".cursor" / "mcp.json").at("mcpServers").at("keel").at("command").as_string() ==
        s.binary);
  auto cursor = read_json(s.project / ".cursor" / "hooks.json");
  CHECK(cursor.at("version").as_int64() == 1);
  auto& pre = cursor.at("hooks").at("preToolUse").as_array();
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].at("command").as_string() == s.binary + " hook --dialect cursor");
  CHECK(pre[0].at("failClosed").as_bool());
  CHECK(cursor.at("hooks").as_object().contains("stop"));
}

TEST_CASE("keel install merges into a user's settings, backs them up, and is idempotent", "[install]") {
  Sandbox s;
  const std::string settings_text = R"J({
    "model": "opus",
    "permissions": {"allow": ["Bash(npm test)"]},
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/local/bin/audit --pre"}]}
        ],
        "Notification": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
    }
})J";
  const std::string mcp_text = R"({"mcpServers": {"github": {"command": "gh-mcp", "args": ["--stdio"]}}})";
  fs::path settings = s.project / ".claude" / "settings.json";
  fs::path mcp = s.project / ".mcp.json";
  spit(settings, settings_text);
  spit(mcp, mcp_text);

  Run first = s.keel("install claude");
  INFO(first.out);
  REQUIRE(first.status == 0);
  auto merged = read_json(settings);
  CHECK(merged.at("model").as_string() == "opus");
  // keel's tools are allowed beside the user's rules; the project's keel server is enabled.
  CHECK(merged.at("permissions") == json::parse(R"J({"allow": ["Bash(npm test)", "mcp__keel"]})J"));
  CHECK(merged.at("enabledMcpjsonServers") == json::parse(R"J(["keel"])J"));
  auto& pre = merged.at("hooks").at("PreToolUse").as_array();
  REQUIRE(pre.size() == 2);
  CHECK(pre[0] == json::parse(R"({"matcher": "Bash", "hooks": [{"type": "command",
                                 "command": "/usr/local/bin/audit --pre"}]})"));
  CHECK(pre[1].at("hooks").at(0).at("command").as_string() == s.binary);
  CHECK(merged.at("hooks").at("Notification") ==
        json::parse(R"([{"hooks": [{"type": "command", "command": "notify-send done"}]}])"));
  auto servers = read_json(mcp).at("mcpServers").as_object();
  CHECK(servers.at("github") == json::parse(R"({"command": "gh-mcp", "args": ["--stdio"]})"));
  CHECK(servers.contains("keel"));
  // The indentation of the file the user wrote is kept (four spaces here).
  CHECK(slurp(settings).find("\n    \"model\": \"opus\"") != std::string::npos);

  // The previous content, byte for byte, in a backup beside each file.
  REQUIRE(backups_of(settings) == 1);
  REQUIRE(backups_of(mcp) == 1);
  for (const auto& e : fs::directory_iterator(settings.parent_path())) {
    if (e.path().filename().string().find(".keel-backup-") != std::string::npos) {
      CHECK(slurp(e.path()) == settings_text);
    }
  }

  // Again: nothing changes, no new backup, and it says so.
  std::string after_first = slurp(settings);
  Run second = s.keel("install claude");
  INFO(second.out);
  CHECK(second.status == 0);
  CHECK_THAT(second.out, Catch::Contains("already installed"));
  CHECK(slurp(settings) == after_first);
  CHECK(backups_of(settings) == 1);
  CHECK(backups_of(mcp) == 1);

  // --uninstall gives back exactly what the user had.
  Run undo = s.keel("install claude --uninstall");
  INFO(undo.out);
  REQUIRE(undo.status == 0);
  CHECK(read_json(settings) == json::parse(settings_text).as_object());
  CHECK(read_json(mcp) == json::parse(mcp_text).as_object());
  Run undo_again = s.keel("install claude --uninstall");
  CHECK(undo_again.status == 0);
  CHECK_THAT(undo_again.out, Catch::Contains("nothing to remove"));
}

TEST_CASE("keel install replaces hand-written keel entries instead of duplicating them", "[install]") {
  Sandbox s;
  // What the README used to tell users to write by hand.
  spit(s.project / ".claude" / "settings.json", R"({"hooks": {"PreToolUse": [{"matcher": "Bash|Edit|Write",
      "hooks": [{"type": "command", "command": "keel hook --dialect claude", "timeout": 5}]}]}})");
  spit(s.home / ".codex" / "config.toml",
       "[mcp_servers.keel]\ncommand = \"keel\"\nargs = [\"serve\", \"--stdio\"]\n# env = { KEEL_AGENT = \"x\" }\n\n"
       "[mcp_servers.other]\ncommand = \"other\"\n");
  REQUIRE(s.keel("install claude").status == 0);
  REQUIRE(s.keel("install codex").status == 0);

  auto pre = read_json(s.project / ".claude" / "settings.json").at("hooks").at("PreToolUse").as_array();
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].at("hooks").at(0).at("command").as_string() == s.binary);

  std::string toml = slurp(s.home / ".codex" / "config.toml");
  INFO(toml);
  std::size_t first = toml.find("[mcp_servers.keel]");
  REQUIRE(first != std::string::npos);
  CHECK(toml.find("[mcp_servers.keel]", first + 1) == std::string::npos);
  CHECK(toml.find("command = \"keel\"") == std::string::npos);
  CHECK(toml.find("[mcp_servers.other]\ncommand = \"other\"\n") != std::string::npos);
}

TEST_CASE("keel install --dry-run prints the diff and writes nothing", "[install]") {
  Sandbox s;
  fs::path settings = s.project / ".claude" / "settings.json";
  const std::string original = "{\n  \"model\": \"opus\"\n}\n";
  spit(settings, original);
  Run r = s.keel("install claude --dry-run");
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("--- /dev/null") && Catch::Contains("+++ b" + (s.project / ".mcp.json").string()));
  CHECK_THAT(r.out, Catch::Contains("--- a" + settings.string()));
  CHECK_THAT(r.out, Catch::Contains("+  \"hooks\": {"));
  CHECK_THAT(r.out, Catch::Contains("-  \"model\": \"opus\"\n+  \"model\": \"opus\",\n"));
  CHECK_THAT(r.out, Catch::Contains("nothing written"));
  check_nothing_written(s, settings, original);
}

TEST_CASE("keel install refuses an unparseable settings file and writes nothing", "[install]") {
  Sandbox s;
  fs::path settings = s.project / ".claude" / "settings.json";
  struct Refused {
    std::string text;  // Claude's settings
    std::vector<std::string> says;
  };
  for (const Refused& c : {Refused{"{\"hooks\": {\"PreToolUse\": [}\n", {settings.string(), "not valid JSON"}},
                           Refused{"[1, 2]", {"JSON object"}},
                           Refused{R"({"hooks": "none"})", {"'hooks' is not a JSON object"}}}) {
    spit(settings, c.text);
    Run r = s.keel("install claude");
    INFO(c.text << "\n" << r.out);
    CHECK(r.status != 0);
    for (const auto& part : c.says) CHECK_THAT(r.out, Catch::Contains(part));
    check_nothing_written(s, settings, c.text);
  }
}

TEST_CASE("keel install reads settings with comments and says they are not kept", "[install]") {
  Sandbox s;
  fs::path settings = s.project / ".gemini" / "settings.json";
  spit(settings, "{\n  // my theme\n  \"theme\": \"dark\",\n}\n");
  Run r = s.keel("install gemini");
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("comments"));
  auto merged = read_json(settings);
  CHECK(merged.at("theme").as_string() == "dark");
  CHECK(merged.at("mcpServers").as_object().contains("keel"));
}

TEST_CASE("keel install refuses a Codex config that defines keel in a form it cannot replace", "[install]") {
  Sandbox s;
  const std::string inline_form = "[mcp_servers]\nkeel = { command = \"keel\", args = [\"serve\"] }\n";
  spit(s.home / ".codex" / "config.toml", inline_form);
  Run r = s.keel("install codex");
  CHECK(r.status != 0);
  CHECK_THAT(r.out, Catch::Contains("config.toml:2"));
  CHECK(slurp(s.home / ".codex" / "config.toml") == inline_form);
  CHECK_FALSE(fs::exists(s.home / ".codex" / "hooks.json"));
}

TEST_CASE("keel install --uninstall with no agent removes keel from every agent and keeps the rest", "[install]") {
  Sandbox s;
  spit(s.project / ".cursor" / "hooks.json",
       R"({"version": 1, "hooks": {"afterFileEdit": [{"command": "./format.sh"}]}})");
  REQUIRE(s.keel("install claude").status == 0);
  REQUIRE(s.keel("install gemini").status == 0);
  REQUIRE(s.keel("install cursor").status == 0);
  REQUIRE(s.keel("install codex").status == 0);
  Run r = s.keel("install --uninstall");
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK_FALSE(fs::exists(s.project / ".mcp.json"));
  CHECK_FALSE(fs::exists(s.project / ".claude" / "settings.json"));
  CHECK_FALSE(fs::exists(s.project / ".gemini" / "settings.json"));
  CHECK_FALSE(fs::exists(s.project / ".cursor" / "mcp.json"));
  CHECK(read_json(s.project / ".cursor" / "hooks.json") ==
        json::parse(R"({"version": 1, "hooks": {"afterFileEdit": [{"command": "./format.sh"}]}})").as_object());
  CHECK_FALSE(fs::exists(s.home / ".codex" / "config.toml"));
}

TEST_CASE("the hook command keel install writes for Claude denies rm -rf /", "[install]") {
  Sandbox s;
  REQUIRE(s.keel("install claude").status == 0);
  auto settings = read_json(s.project / ".claude" / "settings.json");
  auto& handler = settings.at("hooks").at("PreToolUse").at(0).at("hooks").at(0).as_object();
  // Exec form: run exactly command + args, as Claude Code does, no shell words added.
  std::string cmd = quote(std::string(handler.at("command").as_string()));
  for (const auto& a : handler.at("args").as_array()) {
    cmd += ' ';
    cmd += quote(std::string(a.as_string()));
  }

  json::object event{{"session_id", "install-test"},
                     {"hook_event_name", "PreToolUse"},
                     {"cwd", s.project.string()},
                     {"tool_name", "Bash"},
                     {"tool_input", {{"command", "rm -rf /"}}},
                     {"tool_use_id", "toolu_1"}};
  fs::path input = s.root / "event.json";
  spit(input, json::serialize(event));
  Run r = shell("cd " + quote(s.project.string()) + " && HOME=" + quote(s.home.string()) + " " + cmd + " < " +
                quote(input.string()));
  INFO(r.out);
  CHECK(r.status == 0);
  auto decision = json::parse(r.out.substr(r.out.find('{'))).as_object();
  CHECK(decision.at("hookSpecificOutput").at("permissionDecision").as_string() == "deny");

  // A harmless command gets no objection from the same installed hook.
  event["tool_input"] = json::object{{"command", "ls -la"}};
  spit(input, json::serialize(event));
  Run ok = shell("cd " + quote(s.project.string()) + " && HOME=" + quote(s.home.string()) + " " + cmd + " < " +
                 quote(input.string()));
  CHECK(ok.status == 0);
  CHECK(ok.out.find("deny") == std::string::npos);
}

TEST_CASE("the shell-form hook command keel install writes for Codex blocks rm -rf /", "[install]") {
  Sandbox s;
  REQUIRE(s.keel("install codex").status == 0);
  auto hooks = read_json(s.home / ".codex" / "hooks.json");
  std::string command(hooks.at("hooks").at("PreToolUse").at(0).at("hooks").at(0).at("command").as_string());
  json::object event{{"session_id", "install-test"}, {"turn_id", "t1"},       {"hook_event_name", "PreToolUse"},
                     {"cwd", s.project.string()},    {"tool_name", "Bash"}, {"tool_input", {{"command", "rm -rf /"}}}};
  fs::path input = s.root / "event.json";
  spit(input, json::serialize(event));
  // Codex runs the command line through a shell, as here.
  Run r = shell("cd " + quote(s.project.string()) + " && HOME=" + quote(s.home.string()) + " sh -c " +
                quote(command) + " < " + quote(input.string()));
  INFO(r.out);
  bool blocked = r.status == 2 || (r.status == 0 && r.out.find("\"deny\"") != std::string::npos);
  CHECK(blocked);
}

TEST_CASE("keel install usage errors exit 2", "[install]") {
  Sandbox s;
  CHECK(s.keel("install").status == 2);
  CHECK_THAT(s.keel("install vim").out, Catch::Contains("unknown agent 'vim'"));
  CHECK(s.keel("install claude --scope galaxy").status == 2);
  CHECK(s.keel("install claude --binary /nonexistent/keel").status == 2);
  Run help = s.keel("install --help");
  CHECK(help.status == 0);
  CHECK_THAT(help.out, Catch::Contains("usage: keel install"));
}

TEST_CASE("unified_diff shows changed lines with context and line numbers", "[install]") {
  std::string before = "a\nb\nc\nd\ne\nf\ng\nh\n";
  std::string after = "a\nb\nc\nd\nE\nf\ng\nh\ni\n";
  std::string d = keel::cli::unified_diff(before, after, "a/x", "b/x");
  CHECK(d == "--- a/x\n+++ b/x\n@@ -2,7 +2,8 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n+i\n");
  CHECK(keel::cli::unified_diff(before, before, "a", "b").empty());
  CHECK(keel::cli::unified_diff("", "x\n", "/dev/null", "b/x") == "--- /dev/null\n+++ b/x\n@@ -0,0 +1,1 @@\n+x\n");
}

TEST_CASE("the Codex block replaces only keel's tables", "[install]") {
  using keel::cli::toml_set_keel_block;
  std::string block = keel::cli::codex_keel_block("/opt/keel/bin/keel");
  std::string text = "a = 1\n[mcp_servers.keel]\ncommand = \"keel\"\n[mcp_servers.keel.env]\nX = \"1\"\n\n[b]\nc = 2\n";
  std::string out = toml_set_keel_block(text, block, "config.toml");
  CHECK(out == "a = 1\n" + block + "\n[b]\nc = 2\n");
  CHECK(toml_set_keel_block(out, block, "config.toml") == out);
  CHECK(toml_set_keel_block(out, "", "config.toml") == "a = 1\n\n[b]\nc = 2\n");
  // A """ string that happens to hold a table header is not a table.
  std::string multiline = "p = \"\"\"\n[mcp_servers.keel]\n\"\"\"\n";
  CHECK(toml_set_keel_block(multiline, "", "config.toml") == multiline);
  CHECK_THROWS_AS(toml_set_keel_block("mcp_servers.keel.command = \"k\"\n", block, "c"), keel::cli::SettingsError);
  // A begin marker with no end marker: keel's table is still found by its header.
  CHECK(toml_set_keel_block(std::string(keel::cli::kTomlBlockBegin) + "\n[x]\n", "", "c") == "[x]\n");
  CHECK(keel::cli::toml_string("C:\\a \"b\"") == "\"C:\\\\a \\\"b\\\"\"");
}

TEST_CASE("the Codex block keeps what Codex wrote between keel's markers", "[install]") {
  using keel::cli::toml_set_keel_block;
  const std::string block = keel::cli::codex_keel_block("/opt/keel/bin/keel");
  CHECK_THAT(block, Catch::Contains("default_tools_approval_mode = \"approve\""));
  // Codex's config writer appends its tables (hook trust, projects) before the
  // last line, i.e. inside keel's block; a reinstall must not drop them.
  std::string end_marker = std::string(keel::cli::kTomlBlockEnd) + "\n";
  std::string codex_tables =
      "[hooks.state.\"/h/.codex/hooks.json:pre_tool_use:0:0\"]\ntrusted_hash = \"sha256:ab\"\n\n"
      "[projects.\"/repo\"]\ntrust_level = \"trusted\"\n";
  std::string text = "a = 1\n" + block.substr(0, block.size() - end_marker.size()) + "\n" +
                     codex_tables + end_marker;
  std::string out = toml_set_keel_block(text, block, "config.toml");
  CHECK(out == "a = 1\n" + block + "\n" + codex_tables);
  CHECK(toml_set_keel_block(out, block, "config.toml") == out);
  CHECK(toml_set_keel_block(text, "", "config.toml") == "a = 1\n\n" + codex_tables);
}

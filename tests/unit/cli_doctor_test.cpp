// keel doctor: runs the real binary against a fresh temporary $HOME and
// project (a git root) per test, with a clean environment whose PATH holds no
// agent (fake ones are put there by the tests that need a version), so the
// results do not depend on what is installed on the machine. The pure parts
// (Codex's hook hash, Gemini's trust rules, TOML) are tested directly.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <boost/json.hpp>

#include "cli/doctor_checks.h"
#include "cli/settings_json.h"
#include "crypto/sha256.h"
#include "cli_test_util.h"

namespace fs = std::filesystem;
namespace json = boost::json;
namespace doctor = keel::cli::doctor;

using namespace keel::cli::testing;

namespace {

void append(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary | std::ios::app) << text; }

json::object read_json(const fs::path& p) { return json::parse(slurp(p)).as_object(); }

// A temporary $HOME, a project (a git root) and a bin directory for fake agents.
struct Sandbox : TempProject {
  fs::path bin = root / "bin";
  std::string binary = fs::canonical(KEEL_BINARY).string();

  Sandbox() { fs::create_directories(bin); }

  // `keel <args>` in the project with only HOME, PATH and `env` set.
  Run keel(const std::string& args, const std::string& env = "") const {
    return shell("cd " + quote(project.string()) + " && env -i HOME=" + quote(home.string()) +
                 " PATH=" + quote(bin.string() + ":/usr/bin:/bin") + " " + env + " " + quote(binary) + " " + args);
  }

  // What Claude Code records when the user accepts its workspace-trust dialog.
  void trust_claude() const {
    spit(home / ".claude.json",
         "{\"projects\": {" + json::serialize(json::string(project.string())) +
             ": {\"hasTrustDialogAccepted\": true}}}");
  }

  void fake_agent(const std::string& name, const std::string& version_line) const {
    fs::path p = bin / name;
    spit(p, "#!/bin/sh\necho '" + version_line + "'\n");
    fs::permissions(p, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  }
};

bool has_line(const std::string& out, const std::string& start, const std::string& part = "");

// Expects `r` to have exited with `status` and printed a line as has_line finds it.
const Run& check_line(const Run& r, int status, const std::string& start, const std::string& part = "") {
  INFO(r.out);
  CHECK(r.status == status);
  CHECK(has_line(r.out, start, part));
  return r;
}

bool has_line(const std::string& out, const std::string& start, const std::string& part) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(start, 0) == 0 && line.find(part) != std::string::npos) return true;
  }
  return false;
}

// Codex's hash of one hook handler, built here by hand (not with the doctor's
// code): sha256 of the compact, key-sorted JSON of the handler's identity.
std::string codex_hash_by_hand(const std::string& event_snake, const std::string& command, std::int64_t timeout) {
  std::string identity = "{\"event_name\":\"" + event_snake + "\",\"hooks\":[{\"async\":false,\"command\":" +
                         json::serialize(json::string(command)) + ",\"timeout\":" + std::to_string(timeout) +
                         ",\"type\":\"command\"}]}";
  return "sha256:" + keel::crypto::sha256_hex(identity);
}

// The [hooks.state] tables a user's "Trust all" adds for every handler in `hooks_json`.
std::string codex_trust_tables(const fs::path& hooks_json) {
  std::string out;
  const std::string real = fs::canonical(hooks_json).string();
  auto hooks = read_json(hooks_json).at("hooks").as_object();
  for (const auto& kv : hooks) {
    const auto& groups = kv.value().as_array();
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const auto& handlers = groups[g].at("hooks").as_array();
      for (std::size_t h = 0; h < handlers.size(); ++h) {
        const auto& handler = handlers[h].as_object();
        std::string snake = doctor::snake_case(kv.key());
        out += "\n[hooks.state.\"" + real + ":" + snake + ":" + std::to_string(g) + ":" + std::to_string(h) +
               "\"]\ntrusted_hash = \"" +
               codex_hash_by_hand(snake, std::string(handler.at("command").as_string()),
                                  handler.at("timeout").as_int64()) +
               "\"\n";
      }
    }
  }
  return out;
}

}  // namespace

// ------------------------------------------------------------------ pure parts

TEST_CASE("Codex hook hashes match what codex-cli 0.171.0 computes", "[doctor]") {
  // Each expected value is the currentHash `codex app-server` hooks/list
  // returned for the same hooks.json entry.
  struct Vector {
    const char* event;
    const char* group;
    const char* handler;
    const char* hash;
  };
  const Vector vectors[] = {
      {"PreToolUse", R"({"matcher":"Bash"})", R"({"type":"command","command":"echo hi"})",
       "3bbce6504b48cc6f0d7fe24bd36273633d1bfa5879bc87f4ed7ccd16f24d1415"},
      {"PreToolUse", R"({"matcher":"Bash"})",
       R"({"type":"command","command":"/usr/bin/keel hook --dialect codex","timeout":30,"statusMessage":"checking"})",
       "dc72e6940381e881dfbe5070f16df54d0c6b30d45d8bac5dc0347bc3033f3c3e"},
      {"PostToolUse", "{}", R"({"type":"command","command":"'/tmp/a b/keel' hook --dialect codex","timeout":30})",
       "8cee786f6b04ac5ac3e47b29ea2b0d63ecdac21d804acbc277444514fc4bd984"},
      {"SessionStart", "{}", R"({"type":"command","command":"/usr/bin/keel hook --dialect codex","timeout":30})",
       "f907df8f2248ed9065ff9ae9bebd7792fb3a6ab2900a9092f56f952513188286"},
      // Codex leaves the matcher out of UserPromptSubmit's and Stop's identity.
      {"UserPromptSubmit", R"({"matcher":"x"})",
       R"({"type":"command","command":"/usr/bin/keel hook --dialect codex","timeout":30})",
       "5f809b50a8cc8197e503c31dca48ad28562fdbc7da30a6ae87637bc5e330c875"},
      {"Stop", R"({"matcher":"m"})",
       R"({"type":"command","command":"/usr/bin/keel hook --dialect codex","timeout":600})",
       "62ec98a5531fd0405a6f570cd83219c0ddcaf77e6b226b24a5aa73e82a765f3f"},
      {"SessionStart", R"({"matcher":"startup"})",
       R"({"type":"command","command":"/usr/bin/keel hook --dialect codex","timeout":30})",
       "44065a74a627f6601bb4b31d15202d85e3f589df9b3b8559a877a1f80ac759ef"},
      // Non-ASCII, quotes, backslash, a tab; no timeout (600).
      {"PostToolUse", R"({"matcher":"Bash|apply_patch"})",
       R"({"type":"command","command":"/usr/bin/k\u00e9el \"q\" \\ <x> & hook\t--dialect codex"})",
       "4407e8f465a2be4c40f05e55633a2962e41f69d6761465c2021f882315a87635"},
      {"Stop", "{}", R"({"type":"command","command":"/usr/bin/keel hook","timeout":600,"async":false})",
       "63f22659cfc0d4c673961589938dfaecc02eee15d84ab8aacaadf3f78907eb57"},
      // timeoutSec is not Codex's key: the default 600 is hashed.
      {"Stop", "{}", R"({"type":"command","command":"b","timeoutSec":5})",
       "db8b8e42afff7f0f9731d384f9b239620c81b8628f6d461dfbf26fe2f6ee7a90"},
  };
  for (const auto& v : vectors) {
    INFO(v.event << " " << v.handler);
    CHECK(doctor::codex_hook_hash(v.event, json::parse(v.group).as_object(), json::parse(v.handler).as_object()) ==
          std::string("sha256:") + v.hash);
  }
  // The hand-built identity the CLI tests below use agrees with Codex too.
  CHECK(codex_hash_by_hand("session_start", "/usr/bin/keel hook --dialect codex", 30) ==
        "sha256:f907df8f2248ed9065ff9ae9bebd7792fb3a6ab2900a9092f56f952513188286");
  CHECK(doctor::codex_hook_key("/h/.codex/hooks.json", "PreToolUse", 0, 1) == "/h/.codex/hooks.json:pre_tool_use:0:1");
  CHECK(doctor::snake_case("UserPromptSubmit") == "user_prompt_submit");
}

TEST_CASE("Codex trust states come from [hooks.state] in the user config", "[doctor]") {
  auto cfg = doctor::parse_toml(
      "[hooks.state.\"/h/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:aa\"\n"
      "[hooks.state.\"/h/hooks.json:stop:1:0\"]\ntrusted_hash = \"sha256:aa\"\nenabled = false\n"
      "[projects.\"/p\"]\ntrust_level = \"trusted\"\n",
      "config.toml");
  using doctor::CodexTrust;
  CHECK(doctor::codex_hook_trust(cfg, "/h/hooks.json:stop:0:0", "sha256:aa") == CodexTrust::Trusted);
  CHECK(doctor::codex_hook_trust(cfg, "/h/hooks.json:stop:0:0", "sha256:bb") == CodexTrust::Modified);
  CHECK(doctor::codex_hook_trust(cfg, "/h/hooks.json:stop:2:0", "sha256:aa") == CodexTrust::Untrusted);
  CHECK(doctor::codex_hook_trust(cfg, "/h/hooks.json:stop:1:0", "sha256:aa") == CodexTrust::Disabled);
  CHECK(doctor::codex_project_trust(cfg, "/p") == "trusted");
  CHECK(doctor::codex_project_trust(cfg, "/q").empty());
}

TEST_CASE("the doctor's TOML reader reads what Codex writes and rejects what Codex rejects", "[doctor]") {
  auto t = doctor::parse_toml(
      "model = \"o4\" # a comment\n"
      "n = 1_000\nf = 1.5\nneg = -3\nhex = 0xff\nwhen = 1979-05-27T07:32:00Z\nok = true\n"
      "[mcp_servers.keel]\ncommand = \"/opt/k\\u00e9el\"\nargs = [\n  \"serve\", # x\n  '--stdio',\n]\n"
      "env = { A = \"1\", b.c = 2 }\n"
      "[ 'a b' . \"c.d\" ]\nx = '''\nraw \\n'''\ny = \"\"\"\\\n   joined \\\n   line\"\"\"\n"
      "[[arr]]\nv = 1\n[[arr]]\nv = 2\n[arr.sub]\nw = 3\n",
      "t.toml");
  CHECK(t.at("model").as_string() == "o4");
  CHECK(t.at("n").as_int64() == 1000);
  CHECK(t.at("f").as_double() == 1.5);
  CHECK(t.at("neg").as_int64() == -3);
  CHECK(t.at("hex").as_int64() == 255);
  CHECK(t.at("when").as_string() == "1979-05-27T07:32:00Z");
  CHECK(t.at("ok").as_bool());
  auto& keel = t.at("mcp_servers").at("keel").as_object();
  CHECK(keel.at("command").as_string() == "/opt/k\xc3\xa9" "el");
  CHECK(keel.at("args") == json::array{"serve", "--stdio"});
  CHECK(keel.at("env").at("b").at("c").as_int64() == 2);
  CHECK(t.at("a b").at("c.d").at("x").as_string() == "raw \\n");
  CHECK(t.at("a b").at("c.d").at("y").as_string() == "joined line");
  CHECK(t.at("arr").as_array().size() == 2);
  CHECK(t.at("arr").as_array()[1].at("sub").at("w").as_int64() == 3);

  CHECK_THROWS_WITH(doctor::parse_toml("a = 1\na = 2\n", "c.toml"), Catch::Contains("c.toml:2: duplicate key"));
  CHECK_THROWS_WITH(doctor::parse_toml("[t]\n[t]\n", "c.toml"), Catch::Contains("duplicate table"));
  CHECK_THROWS(doctor::parse_toml("a = \"open\n", "c.toml"));
  CHECK_THROWS(doctor::parse_toml("a = [1, 2\n", "c.toml"));
  CHECK_THROWS(doctor::parse_toml("a = nope\n", "c.toml"));
  CHECK_THROWS(doctor::parse_toml("a = 1 b = 2\n", "c.toml"));
}

TEST_CASE("Gemini folder trust follows Gemini CLI's rules", "[doctor]") {
  Sandbox s;
  fs::path work = s.root / "w" / "proj";
  fs::create_directories(work / "sub");
  fs::create_directory_symlink(s.root / "w", s.root / "link");
  const std::string w = (s.root / "w").string();
  const std::string p = work.string();
  auto trust = [&](const std::string& rules_json, const std::string& dir) {
    doctor::GeminiTrustInput in;
    in.rules = json::parse(rules_json).as_object();
    return doctor::gemini_folder_trust(in, dir);
  };
  auto rules = [](std::initializer_list<std::pair<std::string, std::string>> kv) {
    json::object o;
    for (const auto& [k, v] : kv) o[k] = v;
    return json::serialize(o);
  };
  CHECK(trust(rules({{p, "TRUST_FOLDER"}}), p).trusted);
  CHECK(trust(rules({{p, "TRUST_FOLDER"}}), p + "/sub").trusted);             // a rule covers its subtree
  CHECK_FALSE(trust(rules({{p + "/sub", "TRUST_FOLDER"}}), p).trusted);       // not its parent
  CHECK(trust(rules({{p + "/sub", "TRUST_PARENT"}}), p).trusted);             // TRUST_PARENT: dirname(rule)
  CHECK_FALSE(trust(rules({{p, "TRUST_PARENT"}, {p, "DO_NOT_TRUST"}}), p).trusted);
  CHECK_FALSE(trust(rules({{w, "TRUST_FOLDER"}, {p, "DO_NOT_TRUST"}}), p).trusted);  // longest rule wins
  CHECK(trust(rules({{w, "DO_NOT_TRUST"}, {p, "TRUST_FOLDER"}}), p).trusted);
  CHECK(trust(rules({{(s.root / "link").string(), "TRUST_FOLDER"}}), p).trusted);  // real paths compared
  CHECK_FALSE(trust(rules({{p + "x", "TRUST_FOLDER"}}), p).trusted);          // a sibling with a longer name
  CHECK_FALSE(trust("{}", p).trusted);
  auto bad = trust(rules({{p, "TRUSTED"}}), p);
  CHECK_FALSE(bad.trusted);
  CHECK(bad.invalid_rules);

  doctor::GeminiTrustInput env_in;
  env_in.rules = json::parse(rules({{p, "DO_NOT_TRUST"}})).as_object();
  env_in.trust_workspace_env = "true";
  CHECK(doctor::gemini_folder_trust(env_in, p).trusted);
  env_in.rules = json::parse(rules({{p, "TRUST_FOLDER"}})).as_object();
  env_in.trust_workspace_env = "false";
  CHECK_FALSE(doctor::gemini_folder_trust(env_in, p).trusted);
  doctor::GeminiTrustInput off;
  off.folder_trust_enabled = false;
  CHECK(doctor::gemini_folder_trust(off, p).trusted);
  CHECK_FALSE(doctor::gemini_folder_trust(doctor::GeminiTrustInput{}, p).trusted);  // no file at all
}

TEST_CASE("versions compare by their numbers", "[doctor]") {
  CHECK(doctor::parse_version("2.1.332 (Claude Code)") == std::vector<int>{2, 1, 332});
  CHECK(doctor::parse_version("codex-cli 0.171.0") == std::vector<int>{0, 171, 0});
  CHECK(doctor::parse_version("no version").empty());
  CHECK(doctor::version_less({2, 1, 99}, {2, 1, 139}));
  CHECK_FALSE(doctor::version_less({2, 1, 139}, {2, 1, 139}));
  CHECK_FALSE(doctor::version_less({2, 2}, {2, 1, 139}));
  CHECK(doctor::canonical_json(json::parse(R"({"b":[1,"\u0001/é"],"a":{"d":true,"c":null}})")) ==
        "{\"a\":{\"c\":null,\"d\":true},\"b\":[1,\"\\u0001/\xc3\xa9\"]}");
}

// ------------------------------------------------------------------ the command

TEST_CASE("keel doctor passes a healthy claude install and skips the other agents", "[doctor]") {
  Sandbox s;
  REQUIRE(s.keel("install claude").status == 0);
  // Until the workspace is trusted, Claude Code refuses keel's tools: a problem, with its fix.
  check_line(s.keel("doctor"), 1, "✗ claude (project): Claude Code has not been told to trust",
             "Fix: start claude in " + s.project.string() + " once and accept the trust dialog");
  s.trust_claude();
  Run r = check_line(s.keel("doctor"), 0, "✓ claude (project): Claude Code has recorded the workspace as trusted");
  CHECK(has_line(r.out, "✓ claude (project): ", ".mcp.json parses"));
  CHECK(has_line(r.out, "✓ claude (project): MCP server command " + s.binary));
  CHECK(has_line(r.out, "✓ claude (project): MCP server starts and lists keel's tools"));
  CHECK(has_line(r.out, "✓ claude (project): 7 hooks"));
  CHECK(has_line(r.out, "• claude: claude is not on PATH"));
  for (const char* other : {"codex", "gemini", "cursor"}) {
    CHECK(has_line(r.out, std::string("• ") + other + ": keel is not installed"));
  }
  CHECK(has_line(r.out, "✓ keel: store opens"));
  CHECK(has_line(r.out, "✓ keel: journal verifies"));
  CHECK(r.out.find("✗") == std::string::npos);
}

TEST_CASE("keel doctor with nothing installed passes, unless asked about that agent", "[doctor]") {
  Sandbox s;
  Run r = s.keel("doctor");
  INFO(r.out);
  CHECK(r.status == 0);
  check_line(s.keel("doctor --agent codex"), 1, "✗ codex: keel is not installed", "Fix: run `keel install codex`");
  CHECK(s.keel("doctor --agent nobody").status == 2);
}

TEST_CASE("keel doctor fails on a keel binary that is gone and says how to fix it", "[doctor]") {
  Sandbox s;
  REQUIRE(s.keel("install claude").status == 0);
  auto mcp = read_json(s.project / ".mcp.json");
  const std::string gone = (s.root / "gone" / "keel").string();
  mcp["mcpServers"].as_object()["keel"].as_object()["command"] = gone;
  spit(s.project / ".mcp.json", json::serialize(mcp));
  Run r = check_line(s.keel("doctor"), 1,
                     "✗ claude (project): keel's MCP server command in " + (s.project / ".mcp.json").string() +
                         " cannot run: " + gone + " does not exist. Fix: run `keel install claude`");
  CHECK(has_line(r.out, "✓ claude (project): 7 hooks"));  // the hooks still name the real keel

  // A hook whose program is gone fails the same way.
  auto settings = read_json(s.project / ".claude" / "settings.json");
  settings["hooks"].as_object()["PreToolUse"].as_array()[0].as_object()["hooks"].as_array()[0].as_object()["command"] =
      gone;
  spit(s.project / ".claude" / "settings.json", json::serialize(settings));
  check_line(s.keel("doctor --agent claude"), 1, "✗ claude (project): keel's hooks in ",
             gone + " does not exist (PreToolUse)");
}

TEST_CASE("keel doctor fails on a settings file that does not parse", "[doctor]") {
  Sandbox s;
  REQUIRE(s.keel("install claude").status == 0);
  spit(s.project / ".claude" / "settings.json", "{ \"hooks\": { nope");
  Run r = check_line(s.keel("doctor"), 1,
                     "✗ claude (project): " + (s.project / ".claude" / "settings.json").string() + " does not parse: ",
                     "Fix: correct the file");
  CHECK(has_line(r.out, "✗ claude (project): keel's hooks are missing"));

  // And a broken Codex config.toml.
  Sandbox c;
  REQUIRE(c.keel("install codex").status == 0);
  append(c.home / ".codex" / "config.toml", "[mcp_servers.keel]\ncommand = \"x\"\n");
  check_line(
      c.keel("doctor --agent codex"), 1,
      "✗ codex (user): " + (c.home / ".codex" / "config.toml").string() + " does not parse: ", "duplicate table");
}

TEST_CASE("keel doctor fails on an MCP server that does not answer", "[doctor]") {
  Sandbox s;
  fs::path fake = s.bin / "not-keel";
  spit(fake, "#!/bin/sh\necho 'no store here' >&2\nexit 3\n");
  fs::permissions(fake, fs::perms::owner_all);
  REQUIRE(s.keel("install cursor").status == 0);
  auto mcp = read_json(s.project / ".cursor" / "mcp.json");
  mcp["mcpServers"].as_object()["keel"].as_object()["command"] = fake.string();
  spit(s.project / ".cursor" / "mcp.json", json::serialize(mcp));
  Run r = check_line(s.keel("doctor"), 1,
                     "✗ cursor (project): `" + fake.string() + " serve --stdio` does not serve keel's tools: ",
                     "exited with status 3 before answering (stderr: no store here)");
  CHECK(has_line(r.out, "✓ cursor (project): 7 hooks"));
  CHECK_FALSE(has_line(r.out, "• cursor (project): keel hooks no"));
}

TEST_CASE("keel doctor: Codex hooks untrusted fail, trusted pass, changed or switched off fail", "[doctor]") {
  Sandbox s;
  REQUIRE(s.keel("install codex").status == 0);
  const fs::path config = s.home / ".codex" / "config.toml";
  const fs::path hooks = s.home / ".codex" / "hooks.json";

  check_line(s.keel("doctor --agent codex"), 1, "✗ codex (user): Codex does not trust keel's hooks: untrusted: ",
             "Fix: run codex, choose Trust all (or /hooks)");

  // What Codex's "Trust all" writes.
  append(config, codex_trust_tables(hooks));
  Run trusted = s.keel("doctor --agent codex");
  INFO(slurp(config));
  INFO(trusted.out);
  CHECK(trusted.status == 0);
  CHECK(has_line(trusted.out, "✓ codex (user): Codex trusts keel's 5 hooks"));
  CHECK(has_line(trusted.out, "• codex: codex is not on PATH"));

  // A hand edit of one handler changes its hash: Codex will not run it.
  auto h = read_json(hooks);
  h["hooks"].as_object()["PreToolUse"].as_array()[0].as_object()["hooks"].as_array()[0].as_object()["timeout"] = 31;
  spit(hooks, json::serialize(h));
  check_line(s.keel("doctor --agent codex"), 1,
             "✗ codex (user): Codex does not trust keel's hooks: changed since trusted: PreToolUse",
             "Fix: run codex, choose Trust all (or /hooks)");

  // Re-trusted, then switched off in /hooks.
  Sandbox d;
  REQUIRE(d.keel("install codex").status == 0);
  std::string tables = codex_trust_tables(d.home / ".codex" / "hooks.json");
  std::size_t stop = tables.find(":stop:0:0\"]\n");
  REQUIRE(stop != std::string::npos);
  tables.insert(stop + std::string(":stop:0:0\"]\n").size(), "enabled = false\n");
  append(d.home / ".codex" / "config.toml", tables);
  check_line(d.keel("doctor --agent codex"), 1, "✗ codex (user): keel's hooks are switched off in Codex: Stop");
}

TEST_CASE("keel doctor: Codex project scope needs the project trusted", "[doctor]") {
  Sandbox s;
  REQUIRE(s.keel("install codex --scope project").status == 0);
  const fs::path user_config = s.home / ".codex" / "config.toml";
  spit(user_config, codex_trust_tables(s.project / ".codex" / "hooks.json"));
  Run r = check_line(s.keel("doctor --agent codex"), 1, "✗ codex (project): Codex does not trust the project");
  CHECK(has_line(r.out, "✓ codex (project): Codex trusts keel's 5 hooks"));
  append(user_config, "\n[projects.\"" + s.project.string() + "\"]\ntrust_level = \"trusted\"\n");
  check_line(s.keel("doctor --agent codex"), 0, "✓ codex (project): Codex trusts the project");
}

TEST_CASE("keel doctor: Gemini CLI's folder trust", "[doctor]") {
  Sandbox s;
  REQUIRE(s.keel("install gemini").status == 0);
  const fs::path rules = s.home / ".gemini" / "trustedFolders.json";
  const std::string p = s.project.string();
  const std::string fix = "Fix: run gemini in " + p + " once and choose Trust folder (or /permissions trust)";

  check_line(s.keel("doctor --agent gemini"), 1, "✗ gemini: Gemini CLI does not trust " + p, fix);

  spit(rules, "{\n  // Gemini allows comments here\n  \"" + p + "\": \"TRUST_FOLDER\"\n}\n");
  Run folder = check_line(s.keel("doctor --agent gemini"), 0, "✓ gemini: Gemini CLI trusts " + p, "TRUST_FOLDER");

  spit(rules, "{\"" + p + "/anything\": \"TRUST_PARENT\"}");
  CHECK(s.keel("doctor --agent gemini").status == 0);

  spit(rules, "{\"" + s.root.string() + "\": \"TRUST_FOLDER\", \"" + p + "\": \"DO_NOT_TRUST\"}");
  check_line(s.keel("doctor --agent gemini"), 1, "✗ gemini: Gemini CLI does not trust " + p, "DO_NOT_TRUST");

  // The environment overrides the file, both ways.
  CHECK(s.keel("doctor --agent gemini", "GEMINI_CLI_TRUST_WORKSPACE=true").status == 0);
  spit(rules, "{\"" + p + "\": \"TRUST_FOLDER\"}");
  check_line(s.keel("doctor --agent gemini", "GEMINI_CLI_TRUST_WORKSPACE=false"), 1,
             "✗ gemini: Gemini CLI does not trust " + p, "GEMINI_CLI_TRUST_WORKSPACE=false");

  // The rules file can live elsewhere; folder trust can be off.
  fs::remove(rules);
  spit(s.root / "elsewhere.json", "{\"" + p + "\": \"TRUST_FOLDER\"}");
  const std::string elsewhere = quote((s.root / "elsewhere.json").string());
  CHECK(s.keel("doctor --agent gemini", "GEMINI_CLI_TRUSTED_FOLDERS_PATH=" + elsewhere).status == 0);
  CHECK(s.keel("doctor --agent gemini").status == 1);
  spit(s.home / ".gemini" / "settings.json", R"({"security": {"folderTrust": {"enabled": false}}})");
  CHECK(s.keel("doctor --agent gemini").status == 0);

  // A value Gemini rejects stops it from starting at all.
  fs::remove(s.home / ".gemini" / "settings.json");
  spit(rules, "{\"" + p + "\": \"TRUSTED\"}");
  check_line(s.keel("doctor --agent gemini"), 1, "✗ gemini: Gemini CLI cannot read its trusted folders",
             "Fix: correct " + rules.string());
}

TEST_CASE("keel doctor checks Claude Code's version against exec-form hooks", "[doctor]") {
  Sandbox s;
  REQUIRE(s.keel("install claude").status == 0);
  s.trust_claude();
  s.fake_agent("claude", "2.1.100 (Claude Code)");
  check_line(s.keel("doctor --agent claude"), 1,
             "✗ claude: Claude Code 2.1.100 cannot run keel's hooks: keel's exec-form hooks",
             "Fix: update Claude Code, or run `keel install claude --shell-form`");

  s.fake_agent("claude", "2.1.139 (Claude Code)");
  check_line(s.keel("doctor --agent claude"), 0, "✓ claude: ", "2.1.139 (Claude Code)");

  // Shell-form hooks run on any version.
  s.fake_agent("claude", "2.0.1 (Claude Code)");
  REQUIRE(s.keel("install claude --shell-form").status == 0);
  Run shell_form = s.keel("doctor --agent claude");
  INFO(shell_form.out);
  CHECK(shell_form.status == 0);
}

TEST_CASE("keel doctor --json prints one object per check", "[doctor]") {
  Sandbox s;
  REQUIRE(s.keel("install codex").status == 0);
  Run r = s.keel("doctor --json");
  INFO(r.out);
  CHECK(r.status == 1);  // the hooks are not trusted yet
  json::value v = json::parse(r.out);
  REQUIRE(v.is_array());
  bool saw_problem = false;
  bool saw_pass = false;
  for (const auto& item : v.as_array()) {
    const auto& o = item.as_object();
    for (const char* key : {"agent", "check", "ok", "detail", "fix"}) {
      INFO(key);
      CHECK(o.contains(key));
    }
    if (o.at("agent") == "codex" && o.at("check") == "hooks_trust") {
      saw_problem = true;
      CHECK_FALSE(o.at("ok").as_bool());
      CHECK(o.at("fix").as_string() == "run codex, choose Trust all (or /hooks)");
    }
    if (o.at("agent") == "keel" && o.at("check") == "journal") {
      saw_pass = true;
      CHECK(o.at("ok").as_bool());
      CHECK(o.at("fix").is_null());
    }
  }
  CHECK(saw_problem);
  CHECK(saw_pass);
}

// Robustness: random bytes, truncations and mutations of real inputs never crash the shell
// parser, the gate or any dialect's parse/render, and inputs past the limits say so (their
// speed is bench/gate_bench's).
#include <catch2/catch.hpp>

#include "hooks/dialect.h"
#include "hooks/permission_gate.h"
#include "hooks/shell_parser.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>
#include <string>
#include <vector>

using namespace keel::hooks;

namespace {

const std::vector<std::string> kShellSeeds = {
    "sudo -u x env -i FOO=1 timeout 5 bash -c 'rm -rf \"$HOME\"' | tee >(wc -l) 2>&1 &",
    "cat <<'EOF' | python3 -\nimport os\nos.system(\"ls\")\nEOF\necho $(date) `id` ${X:-y}",
    "for f in $(ls *.c); do case $f in a*) echo {a,b}{1..3};; esac; done; f(){ :|:& }; f",
    "echo $'\\x72\\x6d' \"a\\\"b\" 'c' \\d && find . -exec rm {} \\; || git -C x push -f",
    "ssh h \"psql -c 'DROP TABLE t'\" ; curl -s u | sh ; printf '\\x41' | base64 -d | bash",
};

const std::vector<std::pair<std::string, std::string>> kJsonSeeds = {
    {"claude", R"({"session_id":"s","cwd":"/r","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf /"}})"},
    {"codex", R"({"hook_event_name":"PreToolUse","turn_id":"t","tool_name":"apply_patch","tool_input":{"command":"*** Update File: a\n"}})"},
    {"gemini", R"({"hook_event_name":"AfterTool","tool_name":"read_file","tool_input":{"absolute_path":"/x"},"tool_response":{"error":"e"}})"},
    {"cursor", R"({"hook_event_name":"beforeMCPExecution","conversation_id":"c","tool_name":"t","tool_input":"{\"path\":\"/x\"}"})"},
    {"copilot", R"({"timestamp":1,"cwd":"/r","toolName":"bash","toolArgs":"{\"command\":\"ls\"}"})"},
    {"windsurf", R"({"agent_action_name":"pre_run_command","trajectory_id":"t","tool_info":{"command_line":"ls","cwd":"/r"}})"},
    {"cline", R"({"clineVersion":"3","hookName":"PreToolUse","taskId":"t","preToolUse":{"toolName":"execute_command","parameters":{"command":"ls"}}})"},
};

std::string mutate(std::mt19937& rng, std::string s) {
  static const std::string alphabet = "'\"\\$`(){}[]<>|&;*?!#~=\n\t {},:0123456789abcxyz\xD0\xBC\xE2\x80\x8B";
  std::uniform_int_distribution<int> op(0, 3);
  int n = std::uniform_int_distribution<int>(1, 8)(rng);
  for (int k = 0; k < n && !s.empty(); ++k) {
    std::size_t pos = std::uniform_int_distribution<std::size_t>(0, s.size() - 1)(rng);
    char ch = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    switch (op(rng)) {
      case 0: s[pos] = ch; break;
      case 1: s.insert(s.begin() + static_cast<long>(pos), ch); break;
      case 2: s.erase(pos, 1); break;
      default: s = s.substr(0, pos); break;
    }
  }
  return s;
}

std::string random_bytes(std::mt19937& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& ch : s) ch = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
  return s;
}

}  // namespace

TEST_CASE("robustness: shell parser and gate on random and mutated input", "[hooks][robust]") {
  std::mt19937 rng(20260801);
  GateConfig cfg;
  cfg.home = "/home/u";
  PermissionGate gate(cfg);
  double worst_ms = 0;
  int runs = 0;
  auto timed = [&](const std::string& in) {
    auto t0 = std::chrono::steady_clock::now();
    Script s = parse_shell(in);
    GateVerdict v = gate.check_shell(in, "/home/u/repo");
    (void)s;
    (void)v;
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    worst_ms = std::max(worst_ms, ms);
    ++runs;
  };
  for (int i = 0; i < 1500; ++i) timed(random_bytes(rng, std::uniform_int_distribution<std::size_t>(0, 300)(rng)));
  for (const auto& seed : kShellSeeds) {
    for (std::size_t cut = 0; cut <= seed.size(); ++cut) timed(seed.substr(0, cut));
    for (int i = 0; i < 400; ++i) timed(mutate(rng, seed));
  }
  // Pathological shapes.
  timed(std::string(60000, '('));
  timed(std::string(60000, '$'));
  timed(std::string(30000, '{') + std::string(30000, ','));
  std::string q;
  for (int i = 0; i < 3000; ++i) q += "\"$(";
  timed(q);
  std::string heredocs;
  for (int i = 0; i < 2000; ++i) heredocs += "cat <<E" + std::to_string(i) + " ";
  timed(heredocs);
  std::string pipes;
  for (int i = 0; i < 10000; ++i) pipes += "a|";
  timed(pipes);
  // Speed is bench/gate_bench's business (a timed assertion is only noise on a loaded CI
  // machine); here every input must come back, and the ones past the limits say so.
  std::cout << "robustness: " << runs << " inputs, worst case " << worst_ms << " ms\n";
  CHECK_FALSE(parse_shell(std::string(70000, 'a')).complete);
  Script nested = parse_shell(q);
  CHECK(std::any_of(nested.findings.begin(), nested.findings.end(),
                    [](const Finding& f) { return f.kind == FindingKind::TooDeep; }));
}

TEST_CASE("robustness: every dialect parses garbage without crashing", "[hooks][robust]") {
  std::mt19937 rng(7);
  HookDecision deny;
  deny.outcome = Outcome::Deny;
  deny.reason = "r";
  int parsed = 0, rejected = 0;
  for (const auto& [name, seed] : kJsonSeeds) {
    auto d = make_dialect(name);
    REQUIRE(d);
    std::vector<std::string> inputs;
    for (std::size_t cut = 0; cut <= seed.size(); ++cut) inputs.push_back(seed.substr(0, cut));
    for (int i = 0; i < 300; ++i) inputs.push_back(mutate(rng, seed));
    for (int i = 0; i < 100; ++i) inputs.push_back(random_bytes(rng, 64));
    inputs.push_back(std::string(100000, '['));
    inputs.push_back("{\"a\":" + std::string(5000, '[') + "1" + std::string(5000, ']') + "}");
    for (const auto& in : inputs) {
      (void)detect_dialect(in);
      try {
        HookEvent ev = d->parse(in);
        RenderResult r = d->render(ev, deny);
        (void)r;
        ++parsed;
      } catch (const HookInputError&) {
        ++rejected;
      }
    }
  }
  INFO(parsed << " parsed, " << rejected << " rejected");
  CHECK(parsed > 0);
  CHECK(rejected > 0);
}

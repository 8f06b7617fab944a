// Corpus test for the permission gate: every line of tests/hooks/destructive.txt must be
// denied or asked; at most 1% of tests/hooks/ordinary.txt may be anything but allow/continue.
// File format: one command per line, '#' comments and blank lines ignored, "⏎" = line break.
#include <catch2/catch.hpp>

#include "hooks/permission_gate.h"

#include <boost/json.hpp>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace keel::hooks;

namespace {

std::vector<std::string> load_corpus(const std::string& name) {
  std::ifstream in(std::string(KEEL_SOURCE_DIR) + "/tests/hooks/" + name);
  REQUIRE(in.good());
  std::vector<std::string> out;
  std::string line;
  const std::string nl = "\xE2\x8F\x8E";  // ⏎
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    // Rebuilt rather than replace()d in place: GCC 12 -O3 reports a false -Wrestrict on that.
    std::string text;
    std::size_t from = 0;
    for (std::size_t p; (p = line.find(nl, from)) != std::string::npos; from = p + nl.size()) {
      text.append(line, from, p - from).push_back('\n');
    }
    text.append(line, from, std::string::npos);
    out.push_back(std::move(text));
  }
  return out;
}

PermissionGate corpus_gate() {
  GateConfig cfg;
  cfg.home = "/home/dev";
  return PermissionGate(cfg);
}

bool blocked(Outcome o) { return o == Outcome::Deny || o == Outcome::Ask; }

}  // namespace

TEST_CASE("corpus: every destructive variant is denied or asked", "[hooks][corpus]") {
  auto gate = corpus_gate();
  auto lines = load_corpus("destructive.txt");
  REQUIRE(lines.size() >= 300);
  std::vector<std::string> missed;
  int deny = 0, ask = 0;
  for (const auto& l : lines) {
    GateVerdict v = gate.check_shell(l, "/home/dev/project");
    if (v.outcome == Outcome::Deny) ++deny;
    else if (v.outcome == Outcome::Ask) ++ask;
    else missed.push_back(l);
  }
  std::cout << "destructive corpus: " << lines.size() << " commands, " << deny << " deny, " << ask
            << " ask, " << missed.size() << " allowed\n";
  for (const auto& m : missed) std::cout << "  NOT BLOCKED: " << m << "\n";
  CHECK(missed.empty());
}

TEST_CASE("corpus: ordinary development commands are allowed", "[hooks][corpus]") {
  auto gate = corpus_gate();
  auto lines = load_corpus("ordinary.txt");
  REQUIRE(lines.size() >= 500);
  std::vector<std::pair<std::string, GateVerdict>> false_blocks;
  for (const auto& l : lines) {
    GateVerdict v = gate.check_shell(l, "/home/dev/project");
    if (blocked(v.outcome)) false_blocks.emplace_back(l, v);
  }
  std::cout << "ordinary corpus: " << lines.size() << " commands, " << false_blocks.size()
            << " not allowed (limit " << lines.size() / 100 << ")\n";
  for (const auto& [l, v] : false_blocks)
    std::cout << "  FALSE BLOCK (" << to_string(v.outcome) << ", " << v.rule_id << "): " << l << "\n";
  CHECK(false_blocks.size() <= lines.size() / 100);
}

// The catalog is a floor (issue 21): allow rules as broad as a user writes them — Claude's
// Bash(*), "git *", "rm *", "*" as a command, a tool and a line glob — change nothing for the
// destructive corpus, while they do allow the ordinary one.
TEST_CASE("corpus: broad allow rules leave every destructive variant denied or asked", "[hooks][corpus]") {
  const char* configs[] = {
      R"([{"id":"bash-any","decision":"allow","tool":"Bash"}])",
      R"([{"id":"git-any","decision":"allow","tool":"Bash","command":"git *"}])",
      R"([{"id":"rm-any","decision":"allow","command":"rm *"}])",
      R"([{"id":"cmd-any","decision":"allow","command":"*"}])",
      R"([{"id":"tool-any","decision":"allow","tool":"*"}])",
      R"([{"id":"line-any","decision":"allow","line":"*"}])",
      R"([{"decision":"allow","tool":"Bash"},{"decision":"allow","command":"git *"},
          {"decision":"allow","command":"rm *"},{"decision":"allow","command":"*"},{"decision":"allow","line":"*"}])",
  };
  auto destructive = load_corpus("destructive.txt");
  auto ordinary = load_corpus("ordinary.txt");
  for (const char* c : configs) {
    GateConfig cfg = parse_gate_config(boost::json::parse(c));
    cfg.home = "/home/dev";
    PermissionGate gate(cfg);
    std::vector<std::string> missed;
    for (const auto& l : destructive) {
      GateVerdict v = gate.check_shell(l, "/home/dev/project");
      if (!blocked(v.outcome)) missed.push_back(l);
    }
    std::size_t allowed = 0;
    for (const auto& l : ordinary)
      if (gate.check_shell(l, "/home/dev/project").outcome == Outcome::Allow) ++allowed;
    std::cout << "destructive corpus under " << c << ": " << destructive.size() - missed.size() << "/"
              << destructive.size() << " denied or asked; ordinary allowed: " << allowed << "/" << ordinary.size() << "\n";
    for (const auto& m : missed) std::cout << "  NOT BLOCKED: " << m << "\n";
    INFO(c);
    CHECK(missed.empty());
    CHECK(allowed > 0);  // the rule does allow something: the floor is not a blanket refusal
  }
}

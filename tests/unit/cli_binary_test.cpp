// The keel executable as a user meets it: help on every command, usage errors
// with exit 2, the CLI reading what it wrote, verify/replay exit codes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli_test_util.h"

namespace fs = std::filesystem;

using keel::cli::testing::Run;
using keel::cli::testing::run_keel_binary;

namespace {

// A state directory for one test; the project is the system temp dir.
struct StateDir {
  keel::state::testing::TempDir tmp;
  fs::path path = tmp.path() / "state";
  std::string arg() const { return "--state " + path.string() + " --project " + fs::temp_directory_path().string(); }
};

}  // namespace

TEST_CASE("every command answers --help with its usage") {
  for (const char* cmd : {"serve", "journal tail", "journal query", "journal verify", "journal replay",
                          "journal compact", "journal export", "lease ls", "lease release",
                          "memory get", "memory put", "memory ls", "memory rm"}) {
    INFO(cmd);
    Run r = run_keel_binary(std::string(cmd) + " --help");
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("usage: keel " + std::string(cmd)));
    CHECK_THAT(r.out, Catch::Contains("--state"));
  }
  Run top = run_keel_binary("--help");
  CHECK(top.status == 0);
  CHECK_THAT(top.out, Catch::Contains("journal verify"));
  Run group = run_keel_binary("journal --help");
  CHECK(group.status == 0);
  CHECK_THAT(group.out, Catch::Contains("journal compact"));
}

TEST_CASE("usage mistakes exit 2 and say what is wrong") {
  Run r = run_keel_binary("journal verify --stat /tmp");
  CHECK(r.status == 2);
  CHECK_THAT(r.out, Catch::Contains("unknown option '--stat'"));
  CHECK(run_keel_binary("frobnicate").status == 2);
  CHECK(run_keel_binary("serve").status == 2);  // no transport chosen
  CHECK_THAT(run_keel_binary("memory get").out, Catch::Contains("KEY"));
}

TEST_CASE("a bad config file is refused with the key named") {
  StateDir dir;
  fs::create_directories(dir.path);
  std::ofstream(dir.path / "bad.jsonc") << R"({"lease": {"default_ttl": 5}})";
  Run r = run_keel_binary("lease ls " + dir.arg() + " --config " + (dir.path / "bad.jsonc").string());
  CHECK(r.status == 2);
  CHECK_THAT(r.out, Catch::Contains("lease.default_ttl") && Catch::Contains("unknown key"));
}

TEST_CASE("the CLI writes, reads, lists and deletes memory; the journal verifies") {
  StateDir dir;
  CHECK(run_keel_binary("memory put notes/a '{\"n\":1}' " + dir.arg()).status == 0);
  CHECK(run_keel_binary("memory put notes/b hello --string --shared " + dir.arg()).status == 0);
  Run get = run_keel_binary("memory get notes/a --json " + dir.arg());
  CHECK(get.status == 0);
  CHECK_THAT(get.out, Catch::Contains("\"found\":true") && Catch::Contains("\"version\":1"));
  CHECK(run_keel_binary("memory get notes/b " + dir.arg()).status == 1);  // it is in the shared namespace
  CHECK_THAT(run_keel_binary("memory get notes/b --shared " + dir.arg()).out, Catch::Contains("\"hello\""));
  CHECK(run_keel_binary("memory put notes/a nope " + dir.arg()).status == 2);  // not JSON
  CHECK_THAT(run_keel_binary("memory ls notes/ " + dir.arg()).out, Catch::Contains("notes/a"));
  CHECK(run_keel_binary("memory put notes/a 2 --expected-version 7 " + dir.arg()).status == 1);
  CHECK(run_keel_binary("memory rm notes/a " + dir.arg()).status == 0);
  CHECK(run_keel_binary("memory get notes/a " + dir.arg()).status == 1);

  Run verify = run_keel_binary("journal verify --json " + dir.arg());
  CHECK(verify.status == 0);
  CHECK_THAT(verify.out, Catch::Contains("\"ok\":true"));
  CHECK(run_keel_binary("journal replay " + dir.arg()).status == 0);
  Run tail = run_keel_binary("journal tail --op MEMORY_PUT --json " + dir.arg());
  CHECK_THAT(tail.out, Catch::Contains("notes/a"));
  Run exported = run_keel_binary("journal export " + dir.arg());
  CHECK(std::count(exported.out.begin(), exported.out.end(), '\n') >= 3);
  Run compact = run_keel_binary("journal compact " + dir.arg());
  CHECK(compact.status == 0);
  CHECK(run_keel_binary("journal verify " + dir.arg()).status == 0);
}

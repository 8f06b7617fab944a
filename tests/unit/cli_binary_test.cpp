// The keel executable as a user meets it: help on every command, usage errors
// with exit 2, the CLI reading what it wrote, verify/replay exit codes.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;

namespace {

struct Run {
  int status = -1;
  std::string out;  // stdout and stderr together
};

Run keel(const std::string& args) {
  std::string cmd = std::string(KEEL_BINARY) + " " + args + " 2>&1";
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int raw = ::pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

struct StateDir {
  fs::path path = fs::temp_directory_path() / ("keel-cli-" + std::to_string(::getpid()));
  StateDir() { fs::remove_all(path); }
  ~StateDir() { fs::remove_all(path); }
  std::string arg() const { return "--state " + path.string() + " --project " + fs::temp_directory_path().string(); }
};

}  // namespace

TEST_CASE("every command answers --help with its usage") {
  for (const char* cmd : {"serve", "journal tail", "journal query", "journal verify", "journal replay",
                          "journal compact", "journal export", "lease ls", "lease release",
                          "memory get", "memory put", "memory ls", "memory rm"}) {
    INFO(cmd);
    Run r = keel(std::string(cmd) + " --help");
    CHECK(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("usage: keel " + std::string(cmd)));
    CHECK_THAT(r.out, Catch::Contains("--state"));
  }
  Run top = keel("--help");
  CHECK(top.status == 0);
  CHECK_THAT(top.out, Catch::Contains("journal verify"));
  Run group = keel("journal --help");
  CHECK(group.status == 0);
  CHECK_THAT(group.out, Catch::Contains("journal compact"));
}

TEST_CASE("usage mistakes exit 2 and say what is wrong") {
  Run r = keel("journal verify --stat /tmp");
  CHECK(r.status == 2);
  CHECK_THAT(r.out, Catch::Contains("unknown option '--stat'"));
  CHECK(keel("frobnicate").status == 2);
  CHECK(keel("serve").status == 2);  // no transport chosen
  CHECK_THAT(keel("memory get").out, Catch::Contains("KEY"));
}

TEST_CASE("a bad config file is refused with the key named") {
  StateDir dir;
  fs::create_directories(dir.path);
  std::ofstream(dir.path / "bad.jsonc") << R"({"lease": {"default_ttl": 5}})";
  Run r = keel("lease ls " + dir.arg() + " --config " + (dir.path / "bad.jsonc").string());
  CHECK(r.status == 2);
  CHECK_THAT(r.out, Catch::Contains("lease.default_ttl") && Catch::Contains("unknown key"));
}

TEST_CASE("the CLI writes, reads, lists and deletes memory; the journal verifies") {
  StateDir dir;
  CHECK(keel("memory put notes/a '{\"n\":1}' " + dir.arg()).status == 0);
  CHECK(keel("memory put notes/b hello --string --shared " + dir.arg()).status == 0);
  Run get = keel("memory get notes/a --json " + dir.arg());
  CHECK(get.status == 0);
  CHECK_THAT(get.out, Catch::Contains("\"found\":true") && Catch::Contains("\"version\":1"));
  CHECK(keel("memory get notes/b " + dir.arg()).status == 1);  // it is in the shared namespace
  CHECK_THAT(keel("memory get notes/b --shared " + dir.arg()).out, Catch::Contains("\"hello\""));
  CHECK(keel("memory put notes/a nope " + dir.arg()).status == 2);  // not JSON
  CHECK_THAT(keel("memory ls notes/ " + dir.arg()).out, Catch::Contains("notes/a"));
  CHECK(keel("memory put notes/a 2 --expected-version 7 " + dir.arg()).status == 1);
  CHECK(keel("memory rm notes/a " + dir.arg()).status == 0);
  CHECK(keel("memory get notes/a " + dir.arg()).status == 1);

  Run verify = keel("journal verify --json " + dir.arg());
  CHECK(verify.status == 0);
  CHECK_THAT(verify.out, Catch::Contains("\"ok\":true"));
  CHECK(keel("journal replay " + dir.arg()).status == 0);
  Run tail = keel("journal tail --op MEMORY_PUT --json " + dir.arg());
  CHECK_THAT(tail.out, Catch::Contains("notes/a"));
  Run exported = keel("journal export " + dir.arg());
  CHECK(std::count(exported.out.begin(), exported.out.end(), '\n') >= 3);
  Run compact = keel("journal compact " + dir.arg());
  CHECK(compact.status == 0);
  CHECK(keel("journal verify " + dir.arg()).status == 0);
}

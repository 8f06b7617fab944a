// Shared fixtures of the CLI unit tests (tests/unit/cli_*.cpp) that run the
// keel binary through a shell and read and write files around it.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "state_test_util.h"

namespace keel::cli::testing {

struct Run {
  int status = -1;
  std::string out;  // stdout (and stderr, from shell())
};

// Runs `cmd` with /bin/sh and reads its stdout (stderr goes where `cmd` sends it).
inline Run shell_stdout(const std::string& cmd) {
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

// Runs `cmd` with /bin/sh, stderr folded into stdout.
inline Run shell(const std::string& cmd) { return shell_stdout(cmd + " 2>&1"); }

#ifdef KEEL_BINARY
// `keel <args>` (the binary under test) in the caller's environment and
// directory, stderr folded into stdout.
inline Run run_keel_binary(const std::string& args) { return shell(std::string(KEEL_BINARY) + " " + args); }
#endif

// `s` as one single-quoted shell word.
inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `text` to `p`, creating its directories.
inline void spit(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// A temporary directory for one test (removed with it, whatever it holds),
// canonical, with `home/` and `project/` (a git root) made in it.
struct TempProject {
  keel::state::testing::TempDir tmp;
  std::filesystem::path root = std::filesystem::canonical(tmp.path());
  std::filesystem::path home = root / "home";
  std::filesystem::path project = root / "project";

  TempProject() {
    std::filesystem::create_directories(home);
    std::filesystem::create_directories(project / ".git");
  }
};

}  // namespace keel::cli::testing

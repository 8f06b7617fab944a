// journal.retention as a user runs it: `keel serve` with a retention config
// folds the old records by itself (exported first), and the journal still
// verifies and replays; `keel journal compact --keep N` does one cut by hand.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "cli_test_util.h"

namespace fs = std::filesystem;

using keel::cli::testing::quote;
using keel::cli::testing::Run;
using keel::cli::testing::shell;
using keel::cli::testing::spit;
using keel::cli::testing::TempProject;

namespace {

// Lines of `keel journal tail --json` (one record each).
int journal_records(const std::string& keel) {
  const Run r = shell(keel + " journal tail --limit 1000 --json");
  REQUIRE(r.status == 0);
  int n = 0;
  for (char c : r.out) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("keel serve with journal.retention folds old records by itself (exported first)") {
  TempProject p;
  const fs::path state = p.root / "state";
  const fs::path archive = p.root / "archive";
  const std::string keel = std::string(KEEL_BINARY) + " --state " + quote(state.string());
  for (int i = 0; i < 20; ++i) {
    REQUIRE(shell(keel + " memory put k" + std::to_string(i) + " " + std::to_string(i)).status == 0);
  }
  REQUIRE(journal_records(keel) == 20);
  const fs::path cfg = p.root / "keel.jsonc";
  spit(cfg, R"({"journal": {"retention": {"max_records": 5, "export_dir": )" +
                std::string("\"") + archive.string() + R"(", "interval_ms": 1000}}})");
  // The first pass runs about 1 s after start; stdin stays open for 2.5 s.
  const Run serve = shell("sleep 2.5 | " + keel + " serve --stdio --config " + quote(cfg.string()));
  CHECK(serve.status == 0);
  CHECK_THAT(serve.out, Catch::Contains("journal.retention: folded"));
  CHECK(journal_records(keel) < 20);
  // Every folded record went to a gzip export file first, from record 1 on.
  REQUIRE(fs::is_directory(archive));
  int files = 0;
  for (const auto& e : fs::directory_iterator(archive)) {
    files += e.path().string().find(".jsonl.gz") != std::string::npos;
  }
  CHECK(files >= 1);
  const Run first = shell("zcat " + quote(archive.string()) + "/*-1-*.jsonl.gz | head -1");
  CHECK_THAT(first.out, Catch::Contains("\"seq\":1,"));
  const Run verify = shell(keel + " journal verify");
  CHECK(verify.status == 0);
  CHECK_THAT(verify.out, Catch::Contains("journal intact"));
  const Run replay = shell(keel + " journal replay");
  CHECK(replay.status == 0);
  CHECK_THAT(replay.out, Catch::Contains("replay equals the lease table"));
}

TEST_CASE("keel journal compact --keep N folds all but the newest N records") {
  TempProject p;
  const fs::path state = p.root / "state";
  const std::string keel = std::string(KEEL_BINARY) + " --state " + quote(state.string());
  for (int i = 0; i < 12; ++i) {
    REQUIRE(shell(keel + " memory put k" + std::to_string(i) + " " + std::to_string(i)).status == 0);
  }
  const Run compact = shell(keel + " journal compact --keep 4");
  CHECK(compact.status == 0);
  CHECK(journal_records(keel) == 5);  // the CHECKPOINT and the 4 kept records
  const Run tail = shell(keel + " journal tail --limit 10 --json");
  CHECK_THAT(tail.out, Catch::Contains("\"seq\":12,") && Catch::Contains("\"op\":\"CHECKPOINT\""));
  CHECK(shell(keel + " journal verify").status == 0);
  CHECK(shell(keel + " journal compact --keep 0").status != 0);  // not a cut: a clear error
}

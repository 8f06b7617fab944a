// The command-line grammar: declared options only, clear usage errors.
#include <catch2/catch.hpp>

#include "cli/args.h"

using keel::cli::Args;
using keel::cli::OptionSpec;
using keel::cli::UsageError;

namespace {
const std::vector<OptionSpec> kSpecs{{"state", "DIR", ""}, {"json", "", ""}, {"limit", "N", ""}};
}

TEST_CASE("options take values in both spellings; flags take none") {
  Args a = Args::parse({"--state", "/s", "KEY", "--json", "--limit=5", "VALUE"}, kSpecs);
  CHECK(a.get("state") == "/s");
  CHECK(a.has("json"));
  CHECK(a.get_int("limit") == 5);
  CHECK(a.positionals() == std::vector<std::string>{"KEY", "VALUE"});
  CHECK_FALSE(a.get("missing"));
}

TEST_CASE("after -- everything is positional, including dashes") {
  Args a = Args::parse({"--", "--json", "-x"}, kSpecs);
  CHECK_FALSE(a.has("json"));
  CHECK(a.positionals() == std::vector<std::string>{"--json", "-x"});
}

TEST_CASE("mistakes are usage errors") {
  CHECK_THROWS_AS(Args::parse({"--stat", "x"}, kSpecs), UsageError);
  CHECK_THROWS_AS(Args::parse({"--state"}, kSpecs), UsageError);
  CHECK_THROWS_AS(Args::parse({"--json=1"}, kSpecs), UsageError);
  CHECK_THROWS_AS(Args::parse({"-q"}, kSpecs), UsageError);
  CHECK_THROWS_AS(Args::parse({"--limit", "ten"}, kSpecs).get_int("limit"), UsageError);
  CHECK(Args::parse({"-h"}, kSpecs).has("help"));
}

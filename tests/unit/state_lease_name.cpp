// Lease name normalization, overlap and mode conflict rules.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <utility>

#include "state/lease_name.h"
#include "state_test_util.h"

using namespace keel::state;

TEST_CASE("lease names: normalization", "[state][lease_name]") {
  // {raw, normalized}
  const std::pair<std::string_view, std::string_view> kNormalized[] = {
      {"file:/a/b", "file:/a/b"}, {"file:/a//b", "file:/a/b"}, {"file:/a/./b", "file:/a/b"},
      {"file:/a/x/../b", "file:/a/b"}, {"file:/../../a", "file:/a"}, {"file:/a/b/", "file:/a/b"},
      {"dir:/a/b", "dir:/a/b/"}, {"dir:/a/b/", "dir:/a/b/"}, {"dir://a/./b/c/..", "dir:/a/b/"},
      {"dir:/", "dir:/"}, {"deploy-lock", "deploy-lock"}, {"my file:thing", "my file:thing"}};
  for (const auto& [raw, normalized] : kNormalized) {
    INFO(raw);
    CHECK(normalize_lease_name(raw) == normalized);
  }

  const std::string kInvalid[] = {"", "file:relative/x", "file:", "dir:rel/",
                                  std::string("a\0b", 3), std::string(1025, 'x')};
  for (const std::string& raw : kInvalid) {
    INFO(raw.substr(0, 40));
    REQUIRE_STORE_ERROR(normalize_lease_name(raw), ErrorCode::kInvalidArgument);
  }
  CHECK(normalize_lease_name(std::string(1024, 'x')).size() == 1024);
}

TEST_CASE("lease names: overlap", "[state][lease_name]") {
  // dir covers files and dirs at or under it, in both argument orders.
  CHECK(lease_names_overlap("dir:/a/", "file:/a/x"));
  CHECK(lease_names_overlap("file:/a/x", "dir:/a/"));
  CHECK(lease_names_overlap("dir:/a/", "dir:/a/b/"));
  CHECK(lease_names_overlap("dir:/a/b/", "dir:/a/"));
  CHECK(lease_names_overlap("dir:/a/", "file:/a"));
  CHECK(lease_names_overlap("dir:/a/", "dir:/a/"));
  CHECK(lease_names_overlap("dir:/", "file:/x/y/z"));
  CHECK(lease_names_overlap("dir:/a/", "file:/a/b/c/d"));
  // Siblings and lookalike prefixes do not overlap.
  CHECK_FALSE(lease_names_overlap("dir:/a/", "file:/ab"));
  CHECK_FALSE(lease_names_overlap("dir:/a/", "dir:/ab/"));
  CHECK_FALSE(lease_names_overlap("dir:/a/b/", "file:/a/c"));
  CHECK_FALSE(lease_names_overlap("dir:/a/b/", "file:/a"));
  // file vs file and free names: only equal.
  CHECK(lease_names_overlap("file:/a", "file:/a"));
  CHECK_FALSE(lease_names_overlap("file:/a", "file:/a/b"));
  CHECK(lease_names_overlap("lock", "lock"));
  CHECK_FALSE(lease_names_overlap("lock", "lock2"));
  CHECK_FALSE(lease_names_overlap("lock", "dir:/"));
  CHECK_FALSE(lease_names_overlap("dir:/", "lock"));
}

TEST_CASE("lease modes: conflict", "[state][lease_name]") {
  CHECK_FALSE(lease_modes_conflict(LeaseMode::kShared, LeaseMode::kShared));
  CHECK(lease_modes_conflict(LeaseMode::kShared, LeaseMode::kExclusive));
  CHECK(lease_modes_conflict(LeaseMode::kExclusive, LeaseMode::kShared));
  CHECK(lease_modes_conflict(LeaseMode::kExclusive, LeaseMode::kExclusive));
}

TEST_CASE("lease names: LeaseName holds a normalized name", "[state][lease_name]") {
  const LeaseName f = LeaseName::parse("file:/a//b/");
  CHECK(f.str() == "file:/a/b");
  CHECK(f == std::string_view("file:/a/b"));
  CHECK(f == LeaseName::parse("file:/a/./b"));
  CHECK(f.kind() == LeaseNameKind::kFile);
  const LeaseName d = LeaseName::parse("dir:/a");
  CHECK(d.str() == "dir:/a/");
  CHECK(d.kind() == LeaseNameKind::kDir);
  CHECK(d.overlaps(f));
  CHECK(f.overlaps(d));
  CHECK_FALSE(f.overlaps(LeaseName::parse("file:/a/c")));
  CHECK(LeaseName::parse("deploy-lock").kind() == LeaseNameKind::kFree);
  REQUIRE_STORE_ERROR(LeaseName::parse(""), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(LeaseName::parse("file:relative"), ErrorCode::kInvalidArgument);
}

// Journal chain, tamper detection, replay and compaction.
#include <catch2/catch.hpp>

#include <sstream>

#include <boost/json.hpp>

#include "state/journal.h"
#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;

namespace {

// A journal with a mix of lease and memory records (≥ 8 records).
void populate(StoreEnv& env) {
  Store& s = *env.store;
  const Principal a = agent("alice");
  const Principal b = agent("bob");
  const AcquireResult l1 = s.acquire_lease(a, acquire("file:/a", 1000));
  const AcquireResult l2 = s.acquire_lease(b, acquire("dir:/b/", 50'000));
  s.acquire_lease(b, acquire("file:/a"));  // REFUSE
  PutRequest p;
  p.key = "k";
  p.value = json::parse(R"({"v":1})");
  s.memory_put(a, p);
  env.clock->advance(500);
  s.renew_lease(a, "file:/a", l1.lease->lease_id);
  s.acquire_lease(a, acquire("file:/c", 100));
  env.clock->advance(200);
  s.acquire_lease(b, acquire("file:/c"));  // reaps alice's file:/c (EXPIRE)
  s.release_lease(b, "dir:/b/", l2.lease->lease_id);
  s.journal_append(a, "HOOK_DECISION", "Bash", json::parse(R"({"decision":"allow"})"));
}

// Verifies the journal and REQUIREs that it reports its first bad record as
// `kind` at `seq`.
VerifyReport require_first_bad(Store& s, std::string_view kind, std::int64_t seq) {
  VerifyReport v = s.journal_verify(admin());
  REQUIRE(v.first_bad);
  CHECK(v.first_bad->kind == kind);
  CHECK(v.first_bad->seq == seq);
  return v;
}

}  // namespace

TEST_CASE("journal: hash encoding is unambiguous", "[state][journal]") {
  const std::string h1 = journal_hash(kZeroHash, 1, 2, "ab", "c", "OP", "s", "{}");
  const std::string h2 = journal_hash(kZeroHash, 1, 2, "a", "bc", "OP", "s", "{}");
  CHECK(h1 != h2);
  CHECK(h1.size() == 64);
}

TEST_CASE("journal: chain is consistent and verifies", "[state][journal]") {
  StoreEnv env;
  populate(env);
  Store& s = *env.store;
  const auto recs = journal_records(s);
  REQUIRE(recs.size() >= 9);
  CHECK(recs[0].seq == 1);
  CHECK(recs[0].prev_hash == kZeroHash);
  for (std::size_t i = 0; i < recs.size(); ++i) {
    CHECK(recs[i].seq == static_cast<std::int64_t>(i + 1));
    CHECK(journal_hash(recs[i]) == recs[i].hash);
    if (i > 0) CHECK(recs[i].prev_hash == recs[i - 1].hash);
  }
  const VerifyReport v = s.journal_verify(admin());
  CHECK(v.ok);
  CHECK(v.records == static_cast<std::int64_t>(recs.size()));
  CHECK_FALSE(v.first_bad);

  // Empty journal verifies too.
  StoreEnv fresh;
  CHECK(fresh.store->journal_verify(admin()).ok);
  CHECK(fresh.store->journal_verify(admin()).records == 0);
}

TEST_CASE("journal: query filters", "[state][journal]") {
  StoreEnv env;
  populate(env);
  Store& s = *env.store;
  JournalFilter f;
  f.op = "ACQUIRE";
  const auto acq = s.journal_query(admin(), f);
  CHECK(acq.size() == 4);
  CHECK(acq.front().seq > acq.back().seq);  // newest first
  f = JournalFilter{};
  f.principal = "bob";
  for (const auto& r : s.journal_query(admin(), f)) CHECK(r.principal == "bob");
  f = JournalFilter{};
  f.subject = "file:*";
  const auto files = s.journal_query(admin(), f);
  CHECK_FALSE(files.empty());
  for (const auto& r : files) CHECK(r.subject.rfind("file:", 0) == 0);
  f.subject = "file:/a";
  for (const auto& r : s.journal_query(admin(), f)) CHECK(r.subject == "file:/a");
  f = JournalFilter{};
  f.after_seq = 3;
  f.limit = 2;
  f.newest_first = false;
  const auto page = s.journal_query(admin(), f);
  REQUIRE(page.size() == 2);
  CHECK(page[0].seq == 4);
  f = JournalFilter{};
  f.since_ms = env.clock->now_ms();
  for (const auto& r : s.journal_query(admin(), f)) CHECK(r.ts_ms >= env.clock->now_ms());
  f.until_ms = f.since_ms;
  CHECK(s.journal_query(admin(), f).empty());
  f = JournalFilter{};
  f.project = "/nowhere";
  CHECK(s.journal_query(admin(), f).empty());
  f = JournalFilter{};
  f.limit = 10001;
  REQUIRE_STORE_ERROR(s.journal_query(admin(), f), ErrorCode::kInvalidArgument);
  f.limit = 0;
  REQUIRE_STORE_ERROR(s.journal_query(admin(), f), ErrorCode::kInvalidArgument);

  Principal noread = agent("alice");
  noread.capabilities.erase(std::string(caps::kJournalRead));
  REQUIRE_STORE_ERROR(s.journal_query(noread, JournalFilter{}), ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(s.journal_verify(noread), ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(s.journal_replay(noread), ErrorCode::kPermissionDenied);
  std::ostringstream sink;
  REQUIRE_STORE_ERROR(s.journal_export(noread, sink), ErrorCode::kPermissionDenied);
  REQUIRE_STORE_ERROR(s.journal_compact(agent("alice")), ErrorCode::kPermissionDenied);
}

TEST_CASE("journal: append and export", "[state][journal]") {
  StoreEnv env;
  Store& s = *env.store;
  const JournalRecord r =
      s.journal_append(agent("alice"), "ESCALATION", "esc-1", json::parse(R"({"a":[1,2]})"));
  CHECK(r.seq == 1);
  CHECK(r.payload == R"({"a":[1,2]})");
  CHECK(r.hash == journal_hash(r));
  CHECK(journal_records(s).at(0) == r);
  REQUIRE_STORE_ERROR(s.journal_append(agent("alice"), "", "x", json::value()),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.journal_append(agent("alice"), "ACQUIRE", "x", json::object()),
                      ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(s.journal_append(agent("alice"), "CHECKPOINT", "x", json::object()),
                      ErrorCode::kInvalidArgument);
  // An agent must not forge an escalation or its resolution.
  for (const char* op : {"ESCALATE", "ESCALATE_REFUSED", "RESOLVE"}) {
    REQUIRE_STORE_ERROR(s.journal_append(agent("alice"), op, "escalation:1", json::object()),
                        ErrorCode::kInvalidArgument);
  }
  s.journal_append(agent("bob"), "REFUSE", "file:/x", json::object{{"why", "hook"}});

  std::ostringstream out;
  CHECK(s.journal_export(admin(), out) == 2);
  std::istringstream in(out.str());
  std::string line;
  std::vector<json::object> lines;
  while (std::getline(in, line)) lines.push_back(json::parse(line).as_object());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].at("seq") == 1);
  CHECK(lines[0].at("payload") == R"({"a":[1,2]})");
  CHECK(lines[0].at("hash").as_string() == r.hash);
  CHECK(lines[1].at("prev_hash").as_string() == r.hash);
  CHECK(lines[1].at("principal") == "bob");
}

TEST_CASE("journal: verify catches an edited record", "[state][journal]") {
  StoreEnv env;
  populate(env);
  env.raw_sql("UPDATE journal SET payload = replace(payload, 'file:/a', 'file:/z') WHERE seq = 1");
  const VerifyReport v = require_first_bad(*env.store, "edited", 1);
  CHECK_FALSE(v.ok);
  CHECK(v.records == 1);
}

TEST_CASE("journal: verify catches an edited payload at a known seq", "[state][journal]") {
  StoreEnv env;
  populate(env);
  env.raw_sql("UPDATE journal SET payload = '{\"forged\":true}' WHERE seq = 5");
  require_first_bad(*env.store, "edited", 5);
  // A tampered journal is not compacted.
  REQUIRE_STORE_ERROR(env.store->journal_compact(admin()), ErrorCode::kInternal);
}

TEST_CASE("journal: verify catches a missing record", "[state][journal]") {
  StoreEnv env;
  populate(env);
  env.raw_sql("DELETE FROM journal WHERE seq = 3");
  const VerifyReport v = require_first_bad(*env.store, "missing", 3);
  CHECK(v.records == 3);

  StoreEnv env2;
  populate(env2);
  env2.raw_sql("DELETE FROM journal WHERE seq = 1");
  require_first_bad(*env2.store, "missing", 1);
}

TEST_CASE("journal: verify catches swapped records", "[state][journal]") {
  StoreEnv env;
  populate(env);
  // Swap every column but seq between records 3 and 4.
  env.raw_sql(R"(
    CREATE TEMP TABLE s AS SELECT * FROM journal WHERE seq IN (3, 4);
    UPDATE journal SET (ts, project, principal, op, subject, payload, prev_hash, hash) =
      (SELECT ts, project, principal, op, subject, payload, prev_hash, hash FROM s
       WHERE s.seq = 7 - journal.seq)
    WHERE seq IN (3, 4);
  )");
  require_first_bad(*env.store, "reordered", 3);
}

TEST_CASE("journal: verify catches tail truncation", "[state][journal]") {
  StoreEnv env;
  populate(env);
  const auto recs = journal_records(*env.store);
  env.raw_sql("DELETE FROM journal WHERE seq = " + std::to_string(recs.back().seq));
  require_first_bad(*env.store, "truncated", recs.back().seq);
}

TEST_CASE("journal: verify rejects a misplaced checkpoint", "[state][journal]") {
  StoreEnv env;
  populate(env);
  env.store->journal_compact(admin());
  env.store->journal_append(agent("alice"), "NOTE", "x", json::object());
  // Rewrite record 2 as a self-consistent CHECKPOINT in the middle.
  const auto recs = journal_records(*env.store);
  REQUIRE(recs.size() == 2);
  JournalRecord forged = recs[1];
  forged.op = "CHECKPOINT";
  forged.hash = journal_hash(forged);
  // The chain's head moves with it (SQLite keeps it in meta, PostgreSQL in
  // the project's chain_heads row), so that only the checkpoint is wrong.
  const std::string move_head =
      testing_postgres()
          ? "UPDATE chain_heads SET head_hash = '" + forged.hash + "' WHERE project = '/proj'"
          : "UPDATE meta SET value = '" + forged.hash + "' WHERE key = 'journal_head_hash'";
  env.raw_sql("UPDATE journal SET op = 'CHECKPOINT', hash = '" + forged.hash +
              "' WHERE seq = " + std::to_string(forged.seq) + "; " + move_head);
  require_first_bad(*env.store, "bad_checkpoint", forged.seq);
}

TEST_CASE("journal: replay equals the lease table", "[state][journal]") {
  StoreEnv env;
  populate(env);
  ReplayReport r = env.store->journal_replay(admin());
  INFO((r.differences.empty() ? std::string() : r.differences[0]));
  CHECK(r.equal);
  CHECK(r.replayed == r.table);
  CHECK(r.replayed.size() == 2);  // file:/a (alice) and file:/c (bob)
  CHECK(r.at_ms == env.clock->now_ms());

  // A lease changed behind the journal's back is reported.
  env.raw_sql("UPDATE leases SET expires_at = expires_at + 5 WHERE name = 'file:/a'");
  r = env.store->journal_replay(admin());
  CHECK_FALSE(r.equal);
  REQUIRE(r.differences.size() == 1);
  CHECK(r.differences[0].find("expires_at") != std::string::npos);
  env.raw_sql("DELETE FROM leases WHERE name = 'file:/c'");
  r = env.store->journal_replay(admin());
  CHECK(r.differences.size() == 2);
}

TEST_CASE("journal: compaction keeps replay and the chain", "[state][journal]") {
  StoreEnv env;
  populate(env);
  Store& s = *env.store;
  const auto before_records = journal_records(s);
  const ReplayReport before = s.journal_replay(admin());
  REQUIRE(before.equal);

  const CompactReport c = s.journal_compact(admin());
  CHECK(c.folded_records == static_cast<std::int64_t>(before_records.size()));
  CHECK(c.checkpoint_seq == before_records.back().seq + 1);

  const auto after_records = journal_records(s);
  REQUIRE(after_records.size() == 1);
  const JournalRecord& cp = after_records[0];
  CHECK(cp.op == "CHECKPOINT");
  CHECK(cp.prev_hash == before_records.back().hash);
  const std::optional<Checkpoint> payload = checkpoint_from_payload(cp.payload);
  REQUIRE(payload);
  CHECK(payload->folded_through_seq == before_records.back().seq);
  CHECK(payload->anchor_hash == before_records.back().hash);
  CHECK(payload->next_token == 5);

  const VerifyReport v = s.journal_verify(admin());
  CHECK(v.ok);
  CHECK(v.records == 1);
  const ReplayReport after = s.journal_replay(admin());
  CHECK(after.equal);
  CHECK(after.replayed == before.replayed);

  // Appends after compaction chain onto the checkpoint; replay still folds.
  const Principal a = agent("alice");
  const AcquireResult n = s.acquire_lease(a, acquire("file:/new"));
  REQUIRE(n.granted);
  CHECK(n.lease->token == 5);
  s.release_lease(a, "file:/a", before.replayed[0].lease_id);
  const auto recs = journal_records(s);
  REQUIRE(recs.size() == 3);
  CHECK(recs[1].prev_hash == cp.hash);
  CHECK(recs[1].seq == cp.seq + 1);
  CHECK(s.journal_verify(admin()).ok);
  const ReplayReport later = s.journal_replay(admin());
  CHECK(later.equal);
  CHECK(later.replayed.size() == 2);

  // Compacting again (a chain that starts with a checkpoint) also works,
  // and survives a restart.
  s.journal_compact(admin());
  env.reopen();
  CHECK(env.store->journal_verify(admin()).ok);
  CHECK(env.store->journal_replay(admin()).equal);
  // Expiry after compaction: the folded lease expires; replay still agrees.
  env.clock->advance(100'000);
  CHECK(env.store->journal_replay(admin()).equal);
  CHECK(env.store->acquire_lease(agent("zed"), acquire("file:/a")).granted);
  CHECK(env.store->journal_replay(admin()).equal);
  CHECK(env.store->journal_verify(admin()).ok);
}

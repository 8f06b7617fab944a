// Partial compaction (CompactOptions::through_seq) and ranged export, the
// store side of journal.retention: the records after the cut are kept as they
// were, verify and replay pass across the checkpoint, and export-then-fold
// loses no record. Runs on SQLite and on PostgreSQL (KEEL_TEST_STORE_URL).
#include <catch2/catch.hpp>

#include <zlib.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <map>
#include <sstream>

#include <boost/json.hpp>

#include "state/journal.h"
#include "state/journal_retention.h"
#include "state/store_copy.h"
#include "state_test_util.h"

using namespace keel::state;
using namespace keel::state::testing;
namespace json = boost::json;

namespace {

// Leases taken, renewed, released and expired, memory and notes: ~14 records.
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
  s.acquire_lease(a, acquire("file:/d", 90'000));
  for (int i = 0; i < 5; ++i) {
    s.journal_append(a, "NOTE", "n" + std::to_string(i), json::object{{"i", i}});
  }
}

// The project's chain in seq order (journal_records orders by time on
// PostgreSQL, where a checkpoint is newer than the records after it).
std::vector<JournalRecord> chain_records(Store& s) {
  JournalFilter f;
  f.project = "/proj";
  f.limit = 10000;
  f.newest_first = false;
  return s.journal_query(admin(), f);
}

std::vector<JournalRecord> export_range(Store& s, std::int64_t from, std::int64_t through) {
  std::stringstream out;
  s.journal_export(admin(), out, ExportRange{from, through});
  std::vector<JournalRecord> v;
  for (std::string line; std::getline(out, line);) v.push_back(record_from_export_line(line));
  return v;
}

CompactReport compact_through(Store& s, std::int64_t through) {
  return s.journal_compact(admin(), CompactOptions{through});
}

void require_verifies_and_replays(Store& s) {
  const VerifyReport v = s.journal_verify(admin());
  INFO((v.first_bad ? v.first_bad->kind + ": " + v.first_bad->detail : std::string()));
  REQUIRE(v.ok);
  const ReplayReport r = s.journal_replay(admin());
  INFO((r.differences.empty() ? std::string() : r.differences[0]));
  REQUIRE(r.equal);
}

}  // namespace

TEST_CASE("journal partial compaction: kept records stay, verify and replay pass",
          "[state][journal][retention]") {
  StoreEnv env;
  populate(env);
  Store& s = *env.store;
  const auto before = chain_records(s);
  REQUIRE(before.size() >= 12);
  const ReplayReport replay_before = s.journal_replay(admin());
  REQUIRE(replay_before.equal);

  const CompactReport c = compact_through(s, 6);
  CHECK(c.folded_records == 6);
  CHECK(c.checkpoint_seq == 6);

  const auto after = chain_records(s);
  REQUIRE(after.size() == before.size() - 5);
  const JournalRecord& cp = after[0];
  CHECK(cp.op == "CHECKPOINT");
  CHECK(cp.seq == 6);
  CHECK(cp.prev_hash == before[5].hash);  // its anchor: the record it replaced
  const std::optional<Checkpoint> payload = checkpoint_from_payload(cp.payload);
  REQUIRE(payload);
  CHECK(payload->folded_through_seq == 6);
  CHECK(payload->folded_records == 6);
  CHECK(payload->anchor_hash == before[5].hash);
  // The records after the cut are the very same records.
  for (std::size_t i = 1; i < after.size(); ++i) CHECK(after[i] == before[i + 5]);

  const VerifyReport v = s.journal_verify(admin());
  CHECK(v.ok);
  CHECK(v.records == static_cast<std::int64_t>(after.size()));
  const ReplayReport r = s.journal_replay(admin());
  CHECK(r.equal);
  CHECK(r.replayed == replay_before.replayed);

  // Appends chain on the head as before; a further cut folds the checkpoint
  // and the records up to it.
  const AcquireResult n = s.acquire_lease(agent("carol"), acquire("file:/n"));
  REQUIRE(n.granted);
  require_verifies_and_replays(s);
  const CompactReport c2 = compact_through(s, 9);
  CHECK(c2.folded_records == 4);  // the checkpoint (6) and 7, 8, 9
  CHECK(c2.checkpoint_seq == 9);
  require_verifies_and_replays(s);

  // Idempotent: the same cut, or one before it, folds nothing.
  const auto settled = chain_records(s);
  CHECK(compact_through(s, 9).folded_records == 0);
  CHECK(compact_through(s, 3).folded_records == 0);
  CHECK(chain_records(s) == settled);

  // A cut at or past the head is a full compaction, as without through_seq.
  const std::int64_t head = settled.back().seq;
  const CompactReport full = compact_through(s, head + 100);
  CHECK(full.checkpoint_seq == head + 1);
  CHECK(chain_records(s).size() == 1);
  CHECK(compact_through(s, head).folded_records == 0);  // the checkpoint covers it
  env.reopen();
  require_verifies_and_replays(*env.store);
  env.clock->advance(100'000);  // the folded leases expire; replay still agrees
  CHECK(env.store->acquire_lease(agent("zed"), acquire("file:/a")).granted);
  require_verifies_and_replays(*env.store);

  REQUIRE_STORE_ERROR(compact_through(*env.store, -1), ErrorCode::kInvalidArgument);
  REQUIRE_STORE_ERROR(env.store->journal_compact(agent("alice"), CompactOptions{2}),
                      ErrorCode::kPermissionDenied);
}

TEST_CASE("journal partial compaction: refuses what does not verify, keeps the evidence",
          "[state][journal][retention]") {
  SECTION("an edited record it would fold") {
    StoreEnv env;
    populate(env);
    env.raw_sql("UPDATE journal SET payload = '{\"forged\":true}' WHERE seq = 3");
    const auto before = chain_records(*env.store);
    REQUIRE_STORE_ERROR(compact_through(*env.store, 6), ErrorCode::kInternal);
    CHECK(chain_records(*env.store) == before);
  }
  SECTION("an edited first kept record (the link to the folded ones)") {
    StoreEnv env;
    populate(env);
    env.raw_sql("UPDATE journal SET payload = '{\"forged\":true}' WHERE seq = 7");
    REQUIRE_STORE_ERROR(compact_through(*env.store, 6), ErrorCode::kInternal);
  }
  SECTION("a record missing at the cut") {
    StoreEnv env;
    populate(env);
    env.raw_sql("DELETE FROM journal WHERE seq = 7");
    REQUIRE_STORE_ERROR(compact_through(*env.store, 6), ErrorCode::kInternal);
  }
  SECTION("a later kept record: folded around, still reported by verify") {
    StoreEnv env;
    populate(env);
    env.raw_sql("UPDATE journal SET payload = '{\"forged\":true}' WHERE seq = 10");
    CHECK(compact_through(*env.store, 6).folded_records == 6);
    const VerifyReport v = env.store->journal_verify(admin());
    REQUIRE(v.first_bad);
    CHECK(v.first_bad->seq == 10);
    CHECK(v.first_bad->kind == "edited");
  }
  SECTION("tampering after the cut is detected") {
    StoreEnv env;
    populate(env);
    REQUIRE(compact_through(*env.store, 6).folded_records == 6);
    SECTION("the checkpoint's lease set edited") {
      env.raw_sql("UPDATE journal SET payload = replace(payload, 'file:/a', 'file:/z')"
                 " WHERE seq = 6");
      const VerifyReport v = env.store->journal_verify(admin());
      REQUIRE(v.first_bad);
      CHECK(v.first_bad->seq == 6);
      CHECK(v.first_bad->kind == "edited");
    }
    SECTION("the first kept record's prev_hash") {
      env.raw_sql("UPDATE journal SET prev_hash = '" + kZeroHash + "' WHERE seq = 7");
      const VerifyReport v = env.store->journal_verify(admin());
      REQUIRE(v.first_bad);
      CHECK(v.first_bad->seq == 7);
    }
    SECTION("the first kept record removed") {
      env.raw_sql("DELETE FROM journal WHERE seq = 7");
      const VerifyReport v = env.store->journal_verify(admin());
      REQUIRE(v.first_bad);
      CHECK(v.first_bad->kind == "missing");
      CHECK(v.first_bad->seq == 7);
    }
  }
}

TEST_CASE("journal partial compaction: export then fold loses no record",
          "[state][journal][retention]") {
  StoreEnv env;
  populate(env);
  Store& s = *env.store;
  const Principal a = agent("alice");
  std::map<std::int64_t, JournalRecord> original;
  for (const JournalRecord& r : chain_records(s)) original[r.seq] = r;
  std::vector<JournalRecord> exported;
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 7; ++i) {
      const JournalRecord r =
          s.journal_append(a, "NOTE", "r" + std::to_string(round), json::object{{"i", i}});
      original[r.seq] = r;
    }
    // As journal.retention does: export from the first record that is not
    // this policy's own checkpoint, through the cut, then fold.
    const auto now = chain_records(s);
    const std::int64_t through = now.back().seq - 4;
    std::int64_t from = now.front().seq;
    if (now.front().op == "CHECKPOINT") ++from;
    const auto lines = export_range(s, from, through);
    REQUIRE(lines.size() == static_cast<std::size_t>(through - from + 1));
    exported.insert(exported.end(), lines.begin(), lines.end());
    REQUIRE(compact_through(s, through).folded_records == through - now.front().seq + 1);
    require_verifies_and_replays(s);
  }
  std::vector<JournalRecord> rebuilt = exported;
  for (const JournalRecord& r : chain_records(s)) {
    if (r.op != "CHECKPOINT") rebuilt.push_back(r);
  }
  REQUIRE(rebuilt.size() == original.size());
  std::size_t i = 0;
  for (const auto& [seq, r] : original) {
    CHECK(rebuilt[i] == r);
    CHECK(journal_hash(rebuilt[i]) == r.hash);
    ++i;
  }
  // The exported records chain into the checkpoint's anchor.
  const std::optional<Checkpoint> cp = checkpoint_from_payload(chain_records(s)[0].payload);
  REQUIRE(cp);
  CHECK(cp->anchor_hash == exported.back().hash);
}

TEST_CASE("journal partial compaction: interleaves with concurrent appends",
          "[state][journal][retention]") {
  StoreEnv env;
  populate(env);
  Store& s = *env.store;
  constexpr int kAppends = 300;
  std::deque<TestThread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&s, t] {
      const Principal p = agent("w" + std::to_string(t));
      for (int i = 0; i < kAppends; ++i) {
        s.journal_append(p, "NOTE", "w", json::object{{"i", i}});
        if (i % 50 == 0) {
          const AcquireResult l = s.acquire_lease(p, acquire("file:/w" + std::to_string(t)));
          if (l.granted) s.release_lease(p, l.lease->name, l.lease->lease_id);
        }
      }
    });
  }
  std::int64_t folded = 0;
  for (int i = 0; i < 40; ++i) {
    JournalFilter f;
    f.limit = 1;
    const std::int64_t head = s.journal_query(admin(), f).front().seq;
    if (head > 6) folded += compact_through(s, head - 5).folded_records;
  }
  for (auto& w : writers) w.join();
  CHECK(folded > 0);
  require_verifies_and_replays(s);
  // Every append got a seq; the ones not folded are still there, in order.
  const auto recs = chain_records(s);
  for (std::size_t i = 1; i < recs.size(); ++i) CHECK(recs[i].seq == recs[i - 1].seq + 1);
}

TEST_CASE("journal partial compaction: a compacted journal copies (store copy) and goes on",
          "[state][journal][retention][copy]") {
  StoreEnv src;
  populate(src);
  REQUIRE(compact_through(*src.store, 6).folded_records == 6);
  auto& from = dynamic_cast<StoreImaging&>(*src.store);
  const StateImage image = from.export_image(admin());
  StoreEnv dst;
  dynamic_cast<StoreImaging&>(*dst.store).import_image(admin(), image);
  CHECK(chain_records(*dst.store) == chain_records(*src.store));
  require_verifies_and_replays(*dst.store);
  dst.store->journal_append(agent("alice"), "NOTE", "after", json::object());
  REQUIRE(compact_through(*dst.store, 9).folded_records == 4);
  require_verifies_and_replays(*dst.store);
}

namespace {

// The records of an export file (gzip or plain).
std::vector<JournalRecord> read_export_file(const std::filesystem::path& p) {
  std::string text;
  gzFile gz = gzopen(p.c_str(), "rb");  // reads plain files as they are
  REQUIRE(gz != nullptr);
  char buf[65536];
  for (int n; (n = gzread(gz, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  gzclose(gz);
  std::vector<JournalRecord> v;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) v.push_back(record_from_export_line(line));
  return v;
}

}  // namespace

TEST_CASE("journal.retention: a pass folds by count and by age, exporting first",
          "[state][journal][retention]") {
  StoreEnv env;
  Store& s = *env.store;
  const Principal a = agent("alice");
  std::map<std::int64_t, JournalRecord> original;
  const AcquireResult held = s.acquire_lease(a, acquire("file:/held", 10'000'000));
  REQUIRE(held.granted);
  for (int i = 0; i < 60; ++i) {
    s.journal_append(a, "NOTE", "n", json::object{{"i", i}});
    env.clock->advance(1000);  // one record a second
  }
  for (const JournalRecord& r : chain_records(s)) original[r.seq] = r;
  const std::int64_t head = original.rbegin()->first;
  RetentionOptions o;
  o.export_dir = env.dir.path() / "exports";
  o.batch_records = 7;  // several steps per pass
  const bool compress = GENERATE(true, false);
  o.compress = compress;

  SECTION("max_records keeps the newest N") {
    o.max_records = 20;
    CHECK(retention_cut(s, admin(), o, env.clock->now_ms()) == head - 20);
    const RetentionReport r = run_retention_pass(s, admin(), o, env.clock->now_ms());
    CHECK(r.through_seq == head - 20);
    CHECK(r.exported_records == head - 20);
    const auto kept = chain_records(s);
    REQUIRE(kept.size() == 21);  // the checkpoint and the newest 20
    CHECK(kept.front().op == "CHECKPOINT");
    CHECK(kept[1].seq == head - 19);
    // Idempotent: nothing more to fold until more is written.
    CHECK(run_retention_pass(s, admin(), o, env.clock->now_ms()).folded_records == 0);
  }
  SECTION("max_age folds what is older, never the head") {
    o.max_age_ms = 30'500;
    const RetentionReport r = run_retention_pass(s, admin(), o, env.clock->now_ms());
    CHECK(r.folded_records > 0);
    for (const JournalRecord& k : chain_records(s)) {
      if (k.op != "CHECKPOINT") CHECK(k.ts_ms >= env.clock->now_ms() - 30'500);
    }
    env.clock->advance(1'000'000);  // everything is old now: the head stays
    run_retention_pass(s, admin(), o, env.clock->now_ms());
    const auto kept = chain_records(s);
    REQUIRE(kept.size() == 2);
    CHECK(kept.back().seq == head);
  }
  require_verifies_and_replays(s);
  // The export files and the kept records are the original records, once each.
  std::vector<JournalRecord> rebuilt;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(o.export_dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end(), [](const auto& x, const auto& y) {
    return read_export_file(x).front().seq < read_export_file(y).front().seq;
  });
  CHECK(files.size() > 1);
  for (const auto& f : files) {
    CHECK(f.string().find(compress ? ".jsonl.gz" : ".jsonl") != std::string::npos);
    CHECK(f.filename().string().rfind("_proj-", 0) == 0);
    for (const JournalRecord& r : read_export_file(f)) rebuilt.push_back(r);
  }
  for (const JournalRecord& r : chain_records(s)) {
    if (r.op != "CHECKPOINT") rebuilt.push_back(r);
  }
  REQUIRE(rebuilt.size() == original.size());
  std::size_t i = 0;
  for (const auto& [seq, r] : original) CHECK(rebuilt[i++] == r);
  // The lease held since before the cut is still held, per the checkpoint.
  CHECK(s.journal_replay(admin()).replayed.size() == 1);
}

TEST_CASE("journal.retention: off without limits; without export_dir nothing is written",
          "[state][journal][retention]") {
  StoreEnv env;
  populate(env);
  RetentionOptions o;
  CHECK(retention_cut(*env.store, admin(), o, env.clock->now_ms()) == 0);
  CHECK(run_retention_pass(*env.store, admin(), o, env.clock->now_ms()).folded_records == 0);
  o.max_records = 3;
  const RetentionReport r = run_retention_pass(*env.store, admin(), o, env.clock->now_ms());
  CHECK(r.folded_records > 0);
  CHECK(r.files.empty());
  CHECK(chain_records(*env.store).size() == 4);
  require_verifies_and_replays(*env.store);
  CHECK(retention_export_name("/home/me/repo", 1, 20, true) == "_home_me_repo-1-20.jsonl.gz");
}

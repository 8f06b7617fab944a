// keel journal tail|query|verify|replay|compact|export
#include <fstream>
#include <iostream>

#include <boost/json.hpp>

#include "cli/commands.h"
#include "tools/tool_support.h"

namespace keel::cli {

namespace json = boost::json;

namespace {

const std::vector<OptionSpec> kFilterOptions{
    {"op", "OP", "only records of this op (ACQUIRE, RELEASE, REFUSE, MEMORY_PUT, ...)"},
    {"subject", "S", "only this subject; a trailing * matches a prefix"},
    {"principal", "P", "only records of this principal"},
    {"this-project", "", "only records of the current project"},
    {"limit", "N", "at most N records"},
    {"json", "", "one JSON record per line"},
};

state::JournalFilter filter_from(const Args& args, const Workspace& ws, int default_limit) {
  state::JournalFilter f;
  f.op = args.get("op");
  f.subject = args.get("subject");
  f.principal = args.get("principal");
  if (args.has("this-project")) f.project = ws.project_id();
  f.limit = static_cast<int>(args.get_int("limit").value_or(default_limit));
  if (f.limit < 1 || f.limit > 10000) throw UsageError("--limit must be between 1 and 10000");
  f.since_ms = args.get_int("since");
  f.until_ms = args.get_int("until");
  f.after_seq = args.get_int("after-seq");
  return f;
}

void print_records(const std::vector<state::JournalRecord>& records, bool as_json) {
  for (const auto& r : records) {
    if (as_json) {
      std::cout << json::serialize(tools::record_json(r)) << "\n";
    } else {
      std::cout << r.seq << "  " << r.ts_ms << "  " << r.op << "  " << r.subject << "  by "
                << r.principal << "  " << r.payload << "\n";
    }
  }
}

int run_tail(const Args& args, Workspace& ws) {
  auto f = filter_from(args, ws, 20);
  f.newest_first = true;
  auto records = ws.store().journal_query(ws.human(), f);
  std::reverse(records.begin(), records.end());  // oldest first, like tail(1)
  print_records(records, args.has("json"));
  return 0;
}

int run_query(const Args& args, Workspace& ws) {
  auto f = filter_from(args, ws, 100);
  f.newest_first = !args.has("asc");
  print_records(ws.store().journal_query(ws.human(), f), args.has("json"));
  return 0;
}

int run_verify(const Args& args, Workspace& ws) {
  auto r = ws.store().journal_verify(ws.human());
  if (args.has("json")) {
    std::cout << json::serialize(tools::verify_json(r)) << "\n";
  } else if (r.ok) {
    std::cout << "journal intact: " << r.records << " records\n";
  } else {
    std::cout << "journal BROKEN at seq " << r.first_bad->seq << " (" << r.first_bad->kind
              << "): " << r.first_bad->detail << "\n";
  }
  return r.ok ? 0 : 1;
}

int run_replay(const Args& args, Workspace& ws) {
  auto r = ws.store().journal_replay(ws.human());
  if (args.has("json")) {
    std::cout << json::serialize(tools::replay_json(r)) << "\n";
  } else {
    std::cout << (r.equal ? "replay equals the lease table" : "replay DIFFERS from the lease table")
              << " (" << r.replayed.size() << " live leases replayed, " << r.table.size()
              << " in the table)\n";
    for (const auto& d : r.differences) std::cout << "  " << d << "\n";
  }
  return r.equal ? 0 : 1;
}

int run_compact(const Args& args, Workspace& ws) {
  const std::optional<std::int64_t> through = args.get_int("through-seq");
  const std::optional<std::int64_t> keep = args.get_int("keep");
  if (through && keep) throw UsageError("give --through-seq or --keep, not both");
  state::CompactOptions options;
  if (through) {
    if (*through < 1) throw UsageError("--through-seq must be at least 1");
    options.through_seq = *through;
  } else if (keep) {
    if (*keep < 1) throw UsageError("--keep must be at least 1");
    state::JournalFilter f;
    f.project = ws.project_id();
    f.limit = 1;
    const std::vector<state::JournalRecord> head = ws.store().journal_query(ws.human(), f);
    if (head.empty() || head.front().seq <= *keep) {
      std::cout << (args.has("json") ? "{\"folded_records\":0,\"checkpoint_seq\":0}"
                                     : "nothing to fold")
                << "\n";
      return 0;
    }
    options.through_seq = head.front().seq - *keep;
  }
  auto r = ws.store().journal_compact(ws.human(), options);
  if (args.has("json")) {
    std::cout << json::serialize(json::object{{"folded_records", r.folded_records},
                                              {"checkpoint_seq", r.checkpoint_seq}})
              << "\n";
  } else {
    std::cout << "folded " << r.folded_records << " records into CHECKPOINT seq "
              << r.checkpoint_seq << "\n";
  }
  return 0;
}

int run_export(const Args& args, Workspace& ws) {
  if (auto out = args.get("out")) {
    std::ofstream file(*out, std::ios::binary | std::ios::trunc);
    if (!file) throw std::runtime_error("cannot write " + *out);
    auto n = ws.store().journal_export(ws.human(), file);
    file.flush();
    if (!file) throw std::runtime_error("write to " + *out + " failed");
    std::cerr << "exported " << n << " records to " << *out << "\n";
  } else {
    ws.store().journal_export(ws.human(), std::cout);
    std::cout.flush();
  }
  return 0;
}

}  // namespace

std::vector<Command> journal_commands() {
  auto query_options = kFilterOptions;
  query_options.push_back({"since", "MS", "records at or after this time (ms since the epoch)"});
  query_options.push_back({"until", "MS", "records before this time (ms since the epoch)"});
  query_options.push_back({"after-seq", "N", "records after this sequence number"});
  query_options.push_back({"asc", "", "oldest first (default newest first)"});
  const std::vector<OptionSpec> json_only{{"json", "", "print a JSON object"}};
  return {
      Command{{"journal", "tail"}, "keel journal tail [--limit N] [filters] [--json]",
              "the newest records (default 20), oldest of them first", "", kFilterOptions,
              run_tail},
      Command{{"journal", "query"}, "keel journal query [filters] [--since MS] [--until MS] [--asc] [--json]",
              "records matching filters (default 100, newest first)", "", query_options,
              run_query},
      Command{{"journal", "verify"}, "keel journal verify [--json]",
              "check the hash chain; exit 0 when intact, 1 when a record was edited, "
              "deleted or reordered",
              "", json_only, run_verify},
      Command{{"journal", "replay"}, "keel journal replay [--json]",
              "fold the journal into the live lease set; exit 0 when it equals the lease table",
              "", json_only, run_replay},
      Command{{"journal", "compact"},
              "keel journal compact [--through-seq N | --keep N] [--json]",
              "fold records into one CHECKPOINT: all of them, those up to seq N, or all but "
              "the newest N (export first to keep history)",
              "replay and verify give the same answers after compaction; the records after "
              "the cut stay as they were. journal.retention does this on its own in keel serve.",
              {{"through-seq", "N", "fold only the records with seq <= N"},
               {"keep", "N", "keep the newest N records, fold the older ones"},
               {"json", "", "print a JSON object"}},
              run_compact},
      Command{{"journal", "export"}, "keel journal export [--out FILE]",
              "write every record as JSON lines (to stdout or FILE)", "",
              {{"out", "FILE", "write to FILE instead of stdout"}}, run_export},
  };
}

}  // namespace keel::cli

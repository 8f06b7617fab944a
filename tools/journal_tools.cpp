// journal_tail, journal_verify, journal_replay: read the hash-chained record
// of every decision, check it, and fold it back into the live lease set.
#include <boost/json.hpp>

#include "tools/tool_idempotency.h"
#include "tools/tool_support.h"
#include "tools/tools.h"

namespace keel::tools {

namespace json = boost::json;

namespace {

constexpr std::int64_t kMaxTail = 1000;  // records one journal_tail returns at most

struct TailArgs {
  std::int64_t limit = 20;
  std::optional<std::string> op{};
  std::optional<std::string> subject{};
  std::optional<std::string> principal{};
  std::optional<std::int64_t> after_seq{};
  static constexpr wire::Doc docs[] = {
      {.name = "limit", .minimum = 1, .maximum = kMaxTail, .show_default = true},
      {.name = "after_seq", .minimum = 0}};
};
BOOST_DESCRIBE_STRUCT(TailArgs, (), (limit, op, subject, principal, after_seq))

struct RecordOut {
  std::int64_t seq = 0;
  std::int64_t ts = 0;
  std::string project{};
  std::string principal{};
  std::string op{};
  std::string subject{};
  json::value payload{};  // the record's JSON; its text when it is not JSON (tampered rows)
  std::string prev_hash{};
  std::string hash{};
  std::string node{};  // the keel node that wrote it; "" before nodes were recorded
  static RecordOut of(const state::JournalRecord& r) {
    boost::system::error_code ec;
    json::value payload = json::parse(r.payload, ec);
    if (ec) payload = json::string(r.payload);
    return {r.seq,      r.ts_ms, r.project, r.principal, r.op, r.subject, std::move(payload),
            r.prev_hash, r.hash, r.node};
  }
};
BOOST_DESCRIBE_STRUCT(RecordOut, (), (seq, ts, project, principal, op, subject, payload, prev_hash, hash, node))

struct TailOut {
  std::vector<RecordOut> records{};
};
BOOST_DESCRIBE_STRUCT(TailOut, (), (records))

struct BadOut {
  std::int64_t seq = 0;
  std::string kind{};
  std::string detail{};
};
BOOST_DESCRIBE_STRUCT(BadOut, (), (seq, kind, detail))

struct VerifyOut {
  bool ok = false;
  std::int64_t records = 0;
  std::optional<BadOut> first_bad{};
  static VerifyOut of(const state::VerifyReport& r) {
    VerifyOut out{r.ok, r.records, std::nullopt};
    if (r.first_bad) out.first_bad = BadOut{r.first_bad->seq, r.first_bad->kind, r.first_bad->detail};
    return out;
  }
};
BOOST_DESCRIBE_STRUCT(VerifyOut, (), (ok, records, first_bad))

struct ReplayOut {
  bool equal = false;
  std::int64_t at = 0;
  std::vector<LeaseOut> leases{};
  std::int64_t table_leases = 0;
  std::vector<std::string> differences{};
  static constexpr wire::Doc docs[] = {
      {.name = "equal", .description = "replayed lease set equals the lease table"}};
  static ReplayOut of(const state::ReplayReport& r) {
    return {r.equal, r.at_ms, leases_out(r.replayed), static_cast<std::int64_t>(r.table.size()),
            r.differences};
  }
};
BOOST_DESCRIBE_STRUCT(ReplayOut, (), (equal, at, leases, table_leases, differences))

}  // namespace

json::object record_json(const state::JournalRecord& r) {
  return wire::encode_object(RecordOut::of(r));
}

json::object verify_json(const state::VerifyReport& r) {
  return wire::encode_object(VerifyOut::of(r));
}

json::object replay_json(const state::ReplayReport& r) {
  return wire::encode_object(ReplayOut::of(r));
}

void register_journal_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  registry.add(declare_tool<TailArgs, TailOut>(
      {.name = "journal_tail",
       .title = "Read the journal",
       .description =
           "The newest journal records of this project (every lease, memory and hook "
           "decision), optionally filtered by op (ACQUIRE, RELEASE, REFUSE, MEMORY_PUT...), "
           "subject (exact, or a prefix ending in *) and principal.",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const TailArgs& args, const mcp::CallContext& ctx) {
        auto who = env->principal(ctx);
        state::JournalFilter f{};
        f.project = who.project;
        f.op = args.op;
        f.subject = args.subject;
        f.principal = args.principal;
        f.after_seq = args.after_seq;
        f.limit = static_cast<int>(args.limit);
        f.newest_first = true;
        auto records = env->store->journal_query(who, f);
        auto line = [](const state::JournalRecord& r) {
          return std::to_string(r.seq) + "  " + r.op + "  " + r.subject + "  by " + r.principal +
                 "  " + r.payload + "\n";
        };
        return Reply<TailOut>{{map_to<RecordOut>(records, RecordOut::of)},
                              lines_of(records, line, "no records\n")};
      }));

  registry.add(declare_tool<NoArgs, VerifyOut>(
      {.name = "journal_verify",
       .title = "Verify the journal",
       .description =
           "Walk the hash chain and report whether any record was edited, deleted or "
           "reordered, and the first bad one.",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const NoArgs&, const mcp::CallContext& ctx) {
        auto r = env->store->journal_verify(env->principal(ctx));
        std::string text = r.ok ? "journal intact: " + std::to_string(r.records) + " records"
                                : "journal BROKEN at seq " + std::to_string(r.first_bad->seq) +
                                      " (" + r.first_bad->kind + "): " + r.first_bad->detail;
        return Reply<VerifyOut>{VerifyOut::of(r), std::move(text)};
      }));

  registry.add(declare_tool<NoArgs, ReplayOut>(
      {.name = "journal_replay",
       .title = "Replay the journal",
       .description =
           "Fold the journal back into the live lease set and compare it with the lease "
           "table at the same instant. equal:false means the two disagree (differences "
           "say how).",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const NoArgs&, const mcp::CallContext& ctx) {
        auto r = env->store->journal_replay(env->principal(ctx));
        std::string text = r.equal ? "replay equals the lease table (" +
                                         std::to_string(r.replayed.size()) + " live leases)"
                                   : "replay DIFFERS from the lease table";
        for (const auto& d : r.differences) text += "\n  " + d;
        return Reply<ReplayOut>{ReplayOut::of(r), std::move(text)};
      }));
}

void register_all(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  // First: every tool registered below that changes state takes request_id.
  registry.set_decorator(idempotency_decorator(env));
  register_lease_tools(registry, env);
  register_memory_tools(registry, env);
  register_journal_tools(registry, env);
  register_escalation_tools(registry, env);
  register_fanout_tools(registry, env);
  register_agent_tools(registry, env);
}

}  // namespace keel::tools

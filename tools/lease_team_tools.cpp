// lease_release (one lease, several by lease_ids, or every lease of one
// acquire by group_id), lease_request_release (ask the holders of a name to
// let it go: journaled ASK_RELEASE, shown to them on their next hook event)
// and lease_downgrade (exclusive -> shared). The rules live in state/ (Store).
#include <boost/json.hpp>

#include "state/lease_name.h"
#include "tools/tool_support.h"
#include "tools/tools.h"

namespace keel::tools {

namespace json = boost::json;

namespace {

// The store's cap on an ask's reason (Store::ask_release).
constexpr std::int64_t kMaxAskReasonBytes = 1024;
constexpr auto kMaxIds = static_cast<std::int64_t>(state::kMaxLeaseNamesPerAcquire);
constexpr std::string_view kIdsSchema =
    R"({"type":"array","items":{"type":"string","minLength":1},"minItems":1})";

struct ReleaseArgs {
  std::optional<std::string> name{};
  std::optional<std::string> lease_id{};
  std::optional<std::vector<std::string>> lease_ids{};
  std::optional<std::string> group_id{};
  bool force = false;
  static constexpr wire::Doc docs[] = {
      {.name = "name", .min_length = 1, .max_length = state::kMaxLeaseNameBytes},
      {.name = "lease_ids",
       .description = "several leases at once, whatever their names",
       .max_items = kMaxIds,
       .schema = kIdsSchema},
      {.name = "group_id",
       .description = "every lease of one acquire (the group_id of its leases)",
       .min_length = 1},
      {.name = "force", .show_default = true}};
};
BOOST_DESCRIBE_STRUCT(ReleaseArgs, (), (name, lease_id, lease_ids, group_id, force))

// One lease of a release by lease_ids or group_id.
struct ReleasedOne {
  std::optional<std::string> name{};
  std::string lease_id{};
  bool released = false;
  state::ReleaseOutcome outcome = state::ReleaseOutcome::kReleased;
  static constexpr wire::Doc docs[] = {
      {.name = "name", .description = "absent for a lease_id that was no longer live"}};
};
BOOST_DESCRIBE_STRUCT(ReleasedOne, (), (name, lease_id, released, outcome))

struct ReleaseOut {
  bool released = false;
  state::ReleaseOutcome outcome = state::ReleaseOutcome::kReleased;
  std::optional<std::string> name{};
  std::optional<std::vector<ReleasedOne>> releases{};
  static constexpr wire::Doc docs[] = {
      {.name = "released", .description = "true when this call ended a hold"},
      {.name = "outcome", .description = "several leases: released when any was"},
      {.name = "releases", .description = "lease_ids / group_id: each lease and its outcome"}};
};
BOOST_DESCRIBE_STRUCT(ReleaseOut, (), (released, outcome, name, releases))

struct AskArgs {
  std::string name{};
  std::string reason{};
  static constexpr wire::Doc docs[] = {
      {.name = "name", .min_length = 1, .max_length = state::kMaxLeaseNameBytes},
      {.name = "reason",
       .description = "why you need it; shown to each holder",
       .min_length = 1,
       .max_length = kMaxAskReasonBytes}};
};
BOOST_DESCRIBE_STRUCT(AskArgs, (), (name, reason))

struct AskedOne {
  std::string ask_id{};
  std::string holder{};
  std::int64_t at = 0;
  static constexpr wire::Doc docs[] = {{.name = "at", .description = "ms since the Unix epoch"}};
};
BOOST_DESCRIBE_STRUCT(AskedOne, (), (ask_id, holder, at))

struct AskOut {
  std::string name{};
  std::string reason{};
  std::vector<AskedOne> asks{};
  static constexpr wire::Doc docs[] = {
      {.name = "name", .description = "normalized"},
      {.name = "asks", .description = "one per holder asked"}};
};
BOOST_DESCRIBE_STRUCT(AskOut, (), (name, reason, asks))

struct DowngradeArgs {
  std::string name{};
  std::string lease_id{};
  static constexpr wire::Doc docs[] = {
      {.name = "name", .min_length = 1, .max_length = state::kMaxLeaseNameBytes},
      {.name = "lease_id", .min_length = 1}};
};
BOOST_DESCRIBE_STRUCT(DowngradeArgs, (), (name, lease_id))

// lease_release by lease_ids: each id's name comes from the live leases. An
// id that is not live is released under `name` when given, else under a
// made-up name: the store then answers from its tombstone (already_released
// or expired), and refuses the made-up name as the wrong one (NOT_FOUND "is
// not a lease on") only when the row is still there — which, for a lease
// that is not live, means it has expired and was not reaped yet.
ReleaseOut release_ids(state::Store& store, const state::Principal& who, const ReleaseArgs& args) {
  const auto live = store.list_leases(who);
  auto find = [&](const std::string& id) -> const state::LeaseInfo* {
    for (const auto& l : live) {
      if (l.lease_id == id) return &l;
    }
    return nullptr;
  };
  for (const auto& id : *args.lease_ids) {  // refuse before releasing any
    const state::LeaseInfo* l = find(id);
    if (l != nullptr && l->holder != who.agent && !args.force) {
      throw Failure(state::ErrorCode::kPermissionDenied,
                    "lease " + id + " on " + l->name + " is held by " + l->holder +
                        " (force releases it, with the lease.force capability)");
    }
  }
  ReleaseOut out{};
  out.releases.emplace();
  for (const auto& id : *args.lease_ids) {
    const state::LeaseInfo* l = find(id);
    ReleasedOne one{.lease_id = id};
    if (l != nullptr) {
      one.name = l->name;
      one.outcome = store.release_lease(who, l->name, id, args.force);
    } else if (args.name) {
      one.name = *args.name;
      one.outcome = store.release_lease(who, *args.name, id, args.force);
    } else {
      try {
        one.outcome = store.release_lease(who, "keel-lease-id:" + id, id, args.force);
      } catch (const state::StoreError& e) {
        if (e.code() != state::ErrorCode::kNotFound) throw;
        one.outcome = state::ReleaseOutcome::kExpired;
      }
    }
    one.released = one.outcome == state::ReleaseOutcome::kReleased;
    out.released = out.released || one.released;
    out.releases->push_back(std::move(one));
  }
  out.outcome = out.released ? state::ReleaseOutcome::kReleased : out.releases->front().outcome;
  return out;
}

ReleaseOut release(state::Store& store, const state::Principal& who, const ReleaseArgs& args) {
  const int ways = int(args.name.has_value() && !args.lease_ids) + int(args.lease_ids.has_value()) +
                   int(args.group_id.has_value());
  if (ways != 1 || (args.lease_ids && args.lease_id)) {
    invalid_argument("give name (with lease_id, or force), or lease_ids, or group_id");
  }
  ReleaseOut out{};
  if (args.group_id) {
    out.releases.emplace();
    for (const auto& l : store.release_group(who, *args.group_id, args.force)) {
      out.releases->push_back({l.name, l.lease_id, true, state::ReleaseOutcome::kReleased});
    }
    out.released = !out.releases->empty();
    out.outcome =
        out.released ? state::ReleaseOutcome::kReleased : state::ReleaseOutcome::kAlreadyReleased;
    return out;
  }
  if (args.lease_ids) return release_ids(store, who, args);
  const std::string lease_id = args.lease_id.value_or("");
  if (lease_id.empty() && !args.force) invalid_argument("lease_id is required unless force is true");
  out.outcome = store.release_lease(who, *args.name, lease_id, args.force);
  out.released = out.outcome == state::ReleaseOutcome::kReleased;
  out.name = *args.name;
  return out;
}

std::string release_text(const ReleaseOut& out) {
  if (!out.releases) return std::string(state::to_string(out.outcome)) + ": " + out.name.value_or("");
  std::string text;
  for (const auto& r : *out.releases) {
    text += std::string(state::to_string(r.outcome)) + ": " + r.name.value_or("(no live lease)") +
            " (" + r.lease_id + ")\n";
  }
  return text.empty() ? "already_released: no live lease of that group\n" : text;
}

}  // namespace

void register_lease_team_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  registry.add(declare_tool<ReleaseArgs, ReleaseOut>(
      {.name = "lease_release",
       .title = "Release leases",
       .description =
           "Give up leases you hold: one (name and lease_id), several (lease_ids), or every "
           "lease of one acquire (group_id). Idempotent: releasing a lease that is already "
           "gone succeeds with outcome already_released (or expired). force:true releases "
           "someone else's leases (and, with name alone, every hold on it) and needs the "
           "lease.force capability.",
       .annotations = {.read_only = false, .destructive = true, .idempotent = true}},
      [env](const ReleaseArgs& args, const mcp::CallContext& ctx) {
        ReleaseOut out = release(*env->store, env->principal(ctx), args);
        std::string text = release_text(out);
        return Reply<ReleaseOut>{std::move(out), std::move(text)};
      }));

  registry.add(declare_tool<AskArgs, AskOut>(
      {.name = "lease_request_release",
       .title = "Ask the holders of a lease to release it",
       .description =
           "Ask every other agent holding a live lease on exactly this name to release it, "
           "saying why. Recorded and journaled (ASK_RELEASE); each holder sees \"agent X waits "
           "for NAME: reason\" on its next hook event, and lease_list shows open asks. Nothing "
           "changes hands: the holder releases, or renews and answers. NOT_FOUND when no one "
           "else holds the name.",
       .annotations = {.read_only = false, .destructive = false, .idempotent = false}},
      [env](const AskArgs& args, const mcp::CallContext& ctx) {
        const auto asks = env->store->ask_release(env->principal(ctx), args.name, args.reason);
        AskOut out{.name = asks.empty() ? state::normalize_lease_name(args.name) : asks.front().name,
                   .reason = args.reason};
        std::string holders;
        for (const auto& a : asks) {
          out.asks.push_back({a.ask_id, a.holder, a.at_ms});
          holders += (holders.empty() ? "" : ", ") + a.holder;
        }
        std::string text = "asked " + holders + " to release " + out.name + "\n" +
                           json::serialize(wire::encode(out));
        return Reply<AskOut>{std::move(out), std::move(text)};
      }));

  registry.add(declare_tool<DowngradeArgs, LeaseOut>(
      {.name = "lease_downgrade",
       .title = "Downgrade a lease to shared",
       .description =
           "Turn your exclusive lease into a shared one (a new fencing token), so that others "
           "may take shared holds beside it; queued waiters are woken. A shared lease is "
           "returned as it is. To upgrade, lease_acquire the name with mode exclusive.",
       .annotations = {.read_only = false, .destructive = false, .idempotent = true}},
      [env](const DowngradeArgs& args, const mcp::CallContext& ctx) {
        auto info = env->store->downgrade_lease(env->principal(ctx), args.name, args.lease_id);
        LeaseOut out = LeaseOut::of(info);
        std::string text = "shared: " + info.name + " token " + std::to_string(info.token) + "\n" +
                           json::serialize(wire::encode(out));
        return Reply<LeaseOut>{std::move(out), std::move(text)};
      }));
}

}  // namespace keel::tools

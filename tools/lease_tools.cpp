// lease_acquire, lease_renew, lease_release, lease_list: fenced, TTL-bound
// holds on files, directories or names. The rules live in state/ (Store).
#include <boost/json.hpp>

#include "state/lease_name.h"
#include "tools/tool_support.h"
#include "tools/tools.h"

namespace keel::tools {

namespace json = boost::json;

namespace {

constexpr std::string_view kNameDoc =
    "file:/abs/path, dir:/abs/dir/ (covers everything under it), or any other name";
// A lease acquire's request_id is capped by the store (state::kMaxLeaseRequestIdBytes);
// its reason by this tool alone (the store keeps what it is given).
constexpr auto kMaxRequestIdBytes = static_cast<std::int64_t>(state::kMaxLeaseRequestIdBytes);
constexpr std::int64_t kMaxReasonBytes = 1024;

struct AcquireArgs {
  std::string name{};
  std::optional<std::int64_t> ttl_ms{};
  state::LeaseMode mode = state::LeaseMode::kExclusive;
  std::int64_t wait_ms = 0;
  std::optional<std::string> request_id{};
  std::optional<std::string> reason{};
  static constexpr wire::Doc docs[] = {
      {.name = "name", .min_length = 1, .max_length = state::kMaxLeaseNameBytes},
      {.name = "ttl_ms", .description = "default: the config key lease.default_ttl_ms", .minimum = 1},
      {.name = "mode", .show_default = true},
      {.name = "wait_ms", .minimum = 0, .show_default = true},
      {.name = "request_id", .min_length = 1, .max_length = kMaxRequestIdBytes},
      {.name = "reason", .max_length = kMaxReasonBytes}};
};
BOOST_DESCRIBE_STRUCT(AcquireArgs, (), (name, ttl_ms, mode, wait_ms, request_id, reason))

// Granted: the lease's fields; refused: the first holder in the way and all of them.
struct AcquireOut {
  bool granted = false;
  std::string name{};
  std::optional<std::string> lease_id{};
  std::optional<std::string> holder{};
  std::optional<state::LeaseMode> mode{};
  std::optional<std::int64_t> token{};
  std::optional<std::int64_t> ttl_ms{};
  std::optional<std::int64_t> acquired_at{};
  std::optional<std::int64_t> expires_at{};
  std::optional<bool> replayed{};
  std::optional<bool> already_held{};
  std::optional<std::vector<LeaseOut>> holders{};
  static constexpr wire::Doc docs[] = {
      {.name = "holder", .description = "granted: you; refused: the first holder in the way"},
      {.name = "token", .description = "fencing token: pass it as fence {name, token} to writes"},
      {.name = "expires_at", .description = "ms since the Unix epoch, server clock"},
      {.name = "replayed", .description = "answered from an earlier call with this request_id"}};
};
BOOST_DESCRIBE_STRUCT(AcquireOut, (),
                      (granted, name, lease_id, holder, mode, token, ttl_ms, acquired_at,
                       expires_at, replayed, already_held, holders))

struct RenewArgs {
  std::string name{};
  std::string lease_id{};
  static constexpr wire::Doc docs[] = {{.name = "name", .min_length = 1},
                                       {.name = "lease_id", .min_length = 1}};
};
BOOST_DESCRIBE_STRUCT(RenewArgs, (), (name, lease_id))

struct ReleaseArgs {
  std::string name{};
  std::optional<std::string> lease_id{};
  bool force = false;
  static constexpr wire::Doc docs[] = {{.name = "name", .min_length = 1},
                                       {.name = "force", .show_default = true}};
};
BOOST_DESCRIBE_STRUCT(ReleaseArgs, (), (name, lease_id, force))

struct ReleaseOut {
  bool released = false;
  state::ReleaseOutcome outcome = state::ReleaseOutcome::kReleased;
  std::string name{};
  static constexpr wire::Doc docs[] = {
      {.name = "released", .description = "true when this call ended the hold"}};
};
BOOST_DESCRIBE_STRUCT(ReleaseOut, (), (released, outcome, name))

struct ListArgs {
  std::optional<std::string> prefix{};
};
BOOST_DESCRIBE_STRUCT(ListArgs, (), (prefix))

struct ListOut {
  std::vector<LeaseOut> leases{};
};
BOOST_DESCRIBE_STRUCT(ListOut, (), (leases))

AcquireOut acquire_out(const state::AcquireResult& r, const std::string& name) {
  AcquireOut out{.granted = r.granted, .name = name};
  if (r.granted && r.lease) {
    const state::LeaseInfo& l = *r.lease;
    out.lease_id = l.lease_id;
    out.holder = l.holder;
    out.mode = l.mode;
    out.token = l.token;
    out.ttl_ms = l.ttl_ms;
    out.acquired_at = l.acquired_at_ms;
    out.expires_at = l.expires_at_ms;
    if (r.replayed) out.replayed = true;
    if (r.already_held) out.already_held = true;
    return out;
  }
  if (!r.holders.empty()) {
    out.holder = r.holders.front().holder;
    out.expires_at = r.holders.front().expires_at_ms;
  }
  out.holders = leases_out(r.holders);
  return out;
}

std::string acquire_text(const AcquireOut& out) {
  const std::string serialized = json::serialize(wire::encode(out));
  if (out.granted) {
    return "granted " + out.name + " token " + std::to_string(*out.token) + " lease_id " +
           *out.lease_id + "\n" + serialized;
  }
  std::string text = "refused: " + out.name;
  if (out.holder) {
    text += " is held by " + *out.holder + " until " + std::to_string(*out.expires_at) +
            " (ms epoch)";
  }
  return text + "\n" + serialized;
}

}  // namespace

void register_lease_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  registry.add(declare_tool<AcquireArgs, AcquireOut>(
      {.name = "lease_acquire",
       .title = "Acquire a lease",
       .description =
           std::string("Take a TTL-bound exclusive or shared hold on a name (") +
           std::string(kNameDoc) +
           "). Returns a fencing token that increases with every grant. On conflict "
           "returns granted:false with the holder and its expiry, or waits up to "
           "wait_ms. A retry with the same request_id returns the same grant.",
       .annotations = {.read_only = false, .destructive = false, .idempotent = false}},
      [env](const AcquireArgs& args, const mcp::CallContext& ctx) {
        state::AcquireRequest req{};
        req.name = args.name;
        req.ttl_ms = args.ttl_ms.value_or(env->lease_default_ttl_ms);
        req.mode = args.mode;
        req.wait_ms = args.wait_ms;
        req.request_id = args.request_id;
        req.reason = args.reason.value_or("");
        auto result = env->store->acquire_lease(env->principal(ctx), req,
                                                ctx.cancelled ? ctx.cancelled : state::CancelCheck{});
        AcquireOut out = acquire_out(result, result.lease ? result.lease->name : req.name);
        std::string text = acquire_text(out);
        return Reply<AcquireOut>{std::move(out), std::move(text)};
      }));

  registry.add(declare_tool<RenewArgs, LeaseOut>(
      {.name = "lease_renew",
       .title = "Renew a lease",
       .description =
           "Extend a live lease you hold by the TTL it was first granted, counted from "
           "now. A lease that has expired is gone for good (error EXPIRED): acquire "
           "again and use the new token.",
       .annotations = {.read_only = false, .destructive = false, .idempotent = true}},
      [env](const RenewArgs& args, const mcp::CallContext& ctx) {
        auto info = env->store->renew_lease(env->principal(ctx), args.name, args.lease_id);
        LeaseOut out = LeaseOut::of(info);
        std::string text = "renewed until " + std::to_string(info.expires_at_ms) +
                           " (ms epoch)\n" + json::serialize(wire::encode(out));
        return Reply<LeaseOut>{std::move(out), std::move(text)};
      }));

  registry.add(declare_tool<ReleaseArgs, ReleaseOut>(
      {.name = "lease_release",
       .title = "Release a lease",
       .description =
           "Give up a lease you hold. Idempotent: releasing a lease that is already "
           "gone succeeds with outcome already_released (or expired). force:true "
           "releases someone else's lease and needs the lease.force capability.",
       .annotations = {.read_only = false, .destructive = true, .idempotent = true}},
      [env](const ReleaseArgs& args, const mcp::CallContext& ctx) {
        const std::string lease_id = args.lease_id.value_or("");
        if (lease_id.empty() && !args.force) {
          invalid_argument("lease_id is required unless force is true");
        }
        auto outcome = env->store->release_lease(env->principal(ctx), args.name, lease_id, args.force);
        return Reply<ReleaseOut>{{outcome == state::ReleaseOutcome::kReleased, outcome, args.name},
                                 std::string(state::to_string(outcome)) + ": " + args.name};
      }));

  registry.add(declare_tool<ListArgs, ListOut>(
      {.name = "lease_list",
       .title = "List live leases",
       .description = "Live leases of this project whose name starts with prefix, by name.",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const ListArgs& args, const mcp::CallContext& ctx) {
        const state::Principal who = env->principal(ctx);
        env->store->scavenge_dead_agents(who);  // a gone agent's holds are not live
        auto leases = env->store->list_leases(who, args.prefix.value_or(""));
        auto line = [](const state::LeaseInfo& l) {
          return l.name + "  " + std::string(state::to_string(l.mode)) + "  " + l.holder +
                 "  token " + std::to_string(l.token) + "  expires " +
                 std::to_string(l.expires_at_ms) + "\n";
        };
        return Reply<ListOut>{{leases_out(leases)}, lines_of(leases, line, "no live leases\n")};
      }));
}

}  // namespace keel::tools

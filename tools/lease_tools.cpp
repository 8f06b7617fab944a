// lease_acquire, lease_renew, lease_list: fenced, TTL-bound holds on files,
// directories or names — one or several at once (all or nothing), counted
// names with a capacity, a fair queue — and the board of leases, queues,
// release asks and capacities. The rules live in state/ (Store);
// lease_release, lease_request_release and lease_downgrade are in
// tools/lease_team_tools.cpp.
#include <algorithm>

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
constexpr auto kMaxNames = static_cast<std::int64_t>(state::kMaxLeaseNamesPerAcquire);
// The schema of `names` (a Doc cannot bound an array's items).
static_assert(state::kMaxLeaseNameBytes == 1024, "update kNamesSchema");
constexpr std::string_view kNamesSchema =
    R"({"type":"array","items":{"type":"string","minLength":1,"maxLength":1024},"minItems":1})";
constexpr std::string_view kRefusals[] = {"held", "capacity", "queued", "released"};

// A lease as the lease tools show it (LeaseOut carries units and group_id
// for every tool).
using HeldLease = LeaseOut;

std::vector<HeldLease> held_out(const std::vector<state::LeaseInfo>& leases) {
  return leases_out(leases);
}

// A counted name: its capacity and the units live holds take.
struct CountedOut {
  std::string name{};
  std::int64_t capacity = 0;
  std::int64_t used = 0;
  std::int64_t free = 0;
  static CountedOut of(const state::LeaseCapacity& c) {
    return {c.name, c.capacity, c.used, std::max<std::int64_t>(0, c.capacity - c.used)};
  }
};
BOOST_DESCRIBE_STRUCT(CountedOut, (), (name, capacity, used, free))

// A queued acquire, in the order the queue serves them.
struct WaiterOut {
  std::string waiter_id{};
  std::string agent{};
  std::vector<std::string> names{};
  state::LeaseMode mode = state::LeaseMode::kExclusive;
  std::int64_t units = 1;
  std::int64_t priority = 0;
  std::int64_t enqueued_at = 0;
  std::int64_t rank = 0;
  static constexpr wire::Doc docs[] = {
      {.name = "enqueued_at", .description = "ms since the Unix epoch"},
      {.name = "rank",
       .description = "enqueued_at - priority * 10000: the queue serves the lowest rank first"}};
  static WaiterOut of(const state::LeaseWaiter& w) {
    return {w.waiter_id, w.agent,          w.names,  w.mode,
            w.units,     w.priority,       w.enqueued_at_ms, w.rank_ms};
  }
};
BOOST_DESCRIBE_STRUCT(WaiterOut, (), (waiter_id, agent, names, mode, units, priority, enqueued_at, rank))

struct AskOut {
  std::string ask_id{};
  std::string name{};
  std::string asker{};
  std::string holder{};
  std::string reason{};
  std::int64_t at = 0;
  bool delivered = false;
  static constexpr wire::Doc docs[] = {
      {.name = "delivered", .description = "shown to the holder (on its next hook event)"}};
  static AskOut of(const state::ReleaseAsk& a) {
    return {a.ask_id, a.name, a.asker, a.holder, a.reason, a.at_ms, a.delivered};
  }
};
BOOST_DESCRIBE_STRUCT(AskOut, (), (ask_id, name, asker, holder, reason, at, delivered))

struct AcquireArgs {
  std::optional<std::string> name{};
  std::optional<std::vector<std::string>> names{};
  std::optional<std::int64_t> ttl_ms{};
  state::LeaseMode mode = state::LeaseMode::kExclusive;
  std::int64_t wait_ms = 0;
  std::optional<std::string> request_id{};
  std::optional<std::string> reason{};
  std::int64_t units = 1;
  std::optional<std::int64_t> capacity{};
  std::int64_t priority = 0;
  static constexpr wire::Doc docs[] = {
      {.name = "name",
       .description = "one name; or give names",
       .min_length = 1,
       .max_length = state::kMaxLeaseNameBytes},
      {.name = "names",
       .description = "several names, granted all or none (decided in sorted order, so two "
                      "requests naming them in opposite orders never deadlock)",
       .max_items = kMaxNames,
       .schema = kNamesSchema},
      {.name = "ttl_ms", .description = "default: the config key lease.default_ttl_ms", .minimum = 1},
      {.name = "mode", .show_default = true},
      {.name = "wait_ms",
       .description = "wait in the fair queue up to this long for every name",
       .minimum = 0,
       .show_default = true},
      {.name = "request_id",
       .description = "idempotency key: a retry with the same arguments replays the first result",
       .min_length = 1,
       .max_length = kMaxRequestIdBytes},
      {.name = "reason", .max_length = kMaxReasonBytes},
      {.name = "units",
       .description = "counted names: the units asked (1..capacity); 1 on other names",
       .minimum = 1,
       .maximum = state::kMaxLeaseCapacity,
       .show_default = true},
      {.name = "capacity",
       .description = "declares a free name counted with this capacity (fixed once declared; "
                      "config lease.capacities wins); a single name only",
       .minimum = 1,
       .maximum = state::kMaxLeaseCapacity},
      {.name = "priority",
       .description = "higher is served earlier in the queue; each point counts as 10 s of waiting",
       .minimum = state::kMinLeasePriority,
       .maximum = state::kMaxLeasePriority,
       .show_default = true}};
};
BOOST_DESCRIBE_STRUCT(AcquireArgs, (),
                      (name, names, ttl_ms, mode, wait_ms, request_id, reason, units, capacity,
                       priority))

// Granted: the first lease's fields and every lease; refused: why (refusal)
// and who or what is in the way.
struct AcquireOut {
  bool granted = false;
  std::string name{};
  std::vector<std::string> names{};
  std::optional<std::string> lease_id{};
  std::optional<std::string> holder{};
  std::optional<state::LeaseMode> mode{};
  std::optional<std::int64_t> token{};
  std::optional<std::int64_t> ttl_ms{};
  std::optional<std::int64_t> acquired_at{};
  std::optional<std::int64_t> expires_at{};
  std::optional<std::int64_t> units{};
  std::optional<std::string> group_id{};
  std::optional<std::vector<HeldLease>> leases{};
  std::optional<std::string> refusal{};
  std::optional<bool> replayed{};
  std::optional<std::string> replay_status{};
  std::optional<bool> already_held{};
  std::optional<bool> upgraded{};
  std::optional<std::vector<LeaseOut>> holders{};
  std::optional<std::vector<CountedOut>> counted{};
  std::optional<std::vector<WaiterOut>> ahead{};
  std::optional<bool> timed_out{};
  std::optional<std::int64_t> waited_ms{};
  static constexpr wire::Doc docs[] = {
      {.name = "name", .description = "granted: the first lease's name; refused: the first name asked"},
      {.name = "names", .description = "every name asked, normalized, in the order they are decided"},
      {.name = "holder", .description = "granted: you; refused: the first holder in the way"},
      {.name = "token", .description = "fencing token: pass it as fence {name, token} to writes"},
      {.name = "expires_at", .description = "ms since the Unix epoch, server clock"},
      {.name = "leases",
       .description = "granted: every lease, one per name (each its own token); refusal "
                      "released: the grant as it was"},
      {.name = "refusal",
       .description = "held: others hold a name; capacity: a counted name has too few free "
                      "units; queued: earlier waiters come first; released: a request_id "
                      "replay whose grant is gone",
       .one_of = kRefusals},
      {.name = "replayed", .description = "answered from an earlier call with this request_id"},
      {.name = "replay_status", .description = "with replayed: granted, released or expired"},
      {.name = "already_held", .description = "you held every name already"},
      {.name = "upgraded", .description = "your shared hold became exclusive (new token)"},
      {.name = "holders", .description = "refused: the live holds in the way"},
      {.name = "counted", .description = "refusal capacity: the counted names short of units"},
      {.name = "ahead", .description = "refusal queued: the waiters served first"},
      {.name = "timed_out", .description = "the refusal came after waiting the whole wait_ms"}};
};
BOOST_DESCRIBE_STRUCT(AcquireOut, (),
                      (granted, name, names, lease_id, holder, mode, token, ttl_ms, acquired_at,
                       expires_at, units, group_id, leases, refusal, replayed, replay_status,
                       already_held, upgraded, holders, counted, ahead, timed_out, waited_ms))

struct RenewArgs {
  std::string name{};
  std::string lease_id{};
  static constexpr wire::Doc docs[] = {{.name = "name", .min_length = 1},
                                       {.name = "lease_id", .min_length = 1}};
};
BOOST_DESCRIBE_STRUCT(RenewArgs, (), (name, lease_id))

struct ListArgs {
  std::optional<std::string> prefix{};
};
BOOST_DESCRIBE_STRUCT(ListArgs, (), (prefix))

struct ListOut {
  std::vector<HeldLease> leases{};
  std::vector<WaiterOut> waiters{};
  std::vector<AskOut> asks{};
  std::vector<CountedOut> capacities{};
  static constexpr wire::Doc docs[] = {
      {.name = "waiters", .description = "queued acquires, in the order they will be served"},
      {.name = "asks", .description = "open requests that a holder release a name"},
      {.name = "capacities", .description = "every counted name: capacity, used and free units"}};
};
BOOST_DESCRIBE_STRUCT(ListOut, (), (leases, waiters, asks, capacities))

// The request's names as the store decides them: normalized, sorted, no
// duplicates. Called after the store accepted them (so they parse).
std::vector<std::string> canonical(const state::AcquireRequest& req) {
  std::vector<std::string> out;
  if (req.names.empty()) {
    out.push_back(state::normalize_lease_name(req.name));
    return out;
  }
  for (const auto& n : req.names) out.push_back(state::normalize_lease_name(n));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

AcquireOut acquire_out(const state::AcquireResult& r, std::vector<std::string> names) {
  AcquireOut out{.granted = r.granted, .names = std::move(names)};
  if (!r.leases.empty()) out.leases = held_out(r.leases);
  if (r.replayed) {
    out.replayed = true;
    out.replay_status = r.replay_status;
  }
  const state::LeaseInfo* first = r.lease ? &*r.lease : r.leases.empty() ? nullptr : &r.leases[0];
  if (r.granted && first != nullptr) {
    out.name = first->name;
    out.lease_id = first->lease_id;
    out.holder = first->holder;
    out.mode = first->mode;
    out.token = first->token;
    out.ttl_ms = first->ttl_ms;
    out.acquired_at = first->acquired_at_ms;
    out.expires_at = first->expires_at_ms;
    out.units = first->units;
    out.group_id = first->group_id;
    if (r.already_held) out.already_held = true;
    if (r.upgraded) out.upgraded = true;
    return out;
  }
  out.name = first != nullptr ? first->name : out.names.empty() ? "" : out.names.front();
  out.refusal = std::string(state::to_string(r.refusal));
  if (!r.holders.empty()) {
    out.holder = r.holders.front().holder;
    out.expires_at = r.holders.front().expires_at_ms;
  }
  out.holders = leases_out(r.holders);
  if (!r.counted.empty()) out.counted = map_to<CountedOut>(r.counted, CountedOut::of);
  if (!r.ahead.empty()) out.ahead = map_to<WaiterOut>(r.ahead, WaiterOut::of);
  if (r.timed_out) out.timed_out = true;
  if (r.timed_out || r.waited_ms > 0) out.waited_ms = r.waited_ms;
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : std::string(sep)) + i;
  return out;
}

// Why a refused acquire was refused, in words ("waited 200 ms and timed out: ..."
// vs an immediate refusal; "not enough capacity" vs "held by").
std::string refusal_text(const state::AcquireResult& r, const AcquireOut& out) {
  std::string why;
  switch (r.refusal) {
    case state::LeaseRefusal::kCapacity:
      for (const auto& c : r.counted) {
        why += (why.empty() ? "" : "; ") + std::string("not enough capacity on ") + c.name + ": " +
               std::to_string(c.used) + " of " + std::to_string(c.capacity) + " units used, " +
               std::to_string(std::max<std::int64_t>(0, c.capacity - c.used)) + " free";
      }
      if (!r.holders.empty()) {
        std::vector<std::string> who;
        for (const auto& h : r.holders) who.push_back(h.holder + " (" + std::to_string(h.units) + ")");
        why += " (held by " + join(who) + ")";
      }
      break;
    case state::LeaseRefusal::kQueued: {
      std::vector<std::string> who;
      for (const auto& w : r.ahead) who.push_back(w.agent + " (for " + join(w.names) + ")");
      why = "queued behind " + join(who);
      break;
    }
    case state::LeaseRefusal::kReleased:
      why = "request_id replay: the grant was " + r.replay_status + " since";
      break;
    default:
      for (const auto& h : r.holders) {
        why += (why.empty() ? "" : "; ") + h.name + " is held by " + h.holder + " (" +
               std::string(state::to_string(h.mode)) + ") until " + std::to_string(h.expires_at_ms) +
               " (ms epoch)";
      }
      if (why.empty()) why = join(out.names) + " is held";
  }
  if (r.timed_out) return "waited " + std::to_string(r.waited_ms) + " ms and timed out: " + why;
  return "refused: " + why;
}

std::string acquire_text(const state::AcquireResult& r, const AcquireOut& out) {
  const std::string serialized = json::serialize(wire::encode(out));
  if (!out.granted) return refusal_text(r, out) + "\n" + serialized;
  std::string text = r.upgraded       ? "upgraded to exclusive: "
                     : r.already_held ? "already held: "
                                      : "granted ";
  for (const auto& l : r.leases) {
    text += l.name + " token " + std::to_string(l.token) + " lease_id " + l.lease_id +
            (l.units != 1 ? " units " + std::to_string(l.units) : "") + "; ";
  }
  if (r.leases.empty()) {
    text += out.name + " token " + std::to_string(out.token.value_or(0)) + " lease_id " +
            out.lease_id.value_or("") + "; ";
  }
  text.resize(text.size() - 2);
  if (r.leases.size() > 1) text += " (group_id " + out.group_id.value_or("") + ")";
  if (r.replayed) text += " (replayed)";
  return text + "\n" + serialized;
}

state::AcquireRequest acquire_request(const AcquireArgs& args, const ToolEnv& env) {
  if (args.name.has_value() == args.names.has_value()) {
    invalid_argument("give either name (one lease) or names (several, all or none)");
  }
  // Schema bounds are checked on the JSON; an integer past int64 wraps when decoded.
  if (args.units < 1) invalid_argument("units must be at least 1");
  if (args.capacity && *args.capacity < 1) invalid_argument("capacity must be at least 1");
  if (args.priority < state::kMinLeasePriority || args.priority > state::kMaxLeasePriority) {
    invalid_argument("priority must be between " + std::to_string(state::kMinLeasePriority) +
                     " and " + std::to_string(state::kMaxLeasePriority));
  }
  state::AcquireRequest req{};
  if (args.name) req.name = *args.name;
  if (args.names) req.names = *args.names;
  req.ttl_ms = args.ttl_ms.value_or(env.lease_default_ttl_ms);
  req.mode = args.mode;
  req.wait_ms = args.wait_ms;
  req.request_id = args.request_id;
  req.reason = args.reason.value_or("");
  req.units = args.units;
  req.capacity = args.capacity;
  req.priority = static_cast<int>(args.priority);
  return req;
}

std::string board_text(const state::LeaseBoard& b) {
  std::string text;
  for (const auto& l : b.leases) {
    text += l.name + "  " + std::string(state::to_string(l.mode)) + "  " + l.holder + "  token " +
            std::to_string(l.token) + "  expires " + std::to_string(l.expires_at_ms) +
            (l.units != 1 ? "  units " + std::to_string(l.units) : "") + "\n";
  }
  if (text.empty()) text = "no live leases\n";
  if (!b.waiters.empty()) text += "queue (served in this order):\n";
  int n = 0;
  for (const auto& w : b.waiters) {
    text += "  " + std::to_string(++n) + ". " + w.agent + " waits for " + join(w.names) + "  " +
            std::string(state::to_string(w.mode)) +
            (w.units != 1 ? "  units " + std::to_string(w.units) : "") +
            (w.priority != 0 ? "  priority " + std::to_string(w.priority) : "") + "  since " +
            std::to_string(w.enqueued_at_ms) + "\n";
  }
  if (!b.asks.empty()) text += "release asks:\n";
  for (const auto& a : b.asks) {
    text += "  " + a.asker + " asks " + a.holder + " to release " + a.name + ": " + a.reason +
            (a.delivered ? "  (shown)" : "") + "\n";
  }
  if (!b.capacities.empty()) text += "counted names:\n";
  for (const auto& c : b.capacities) {
    text += "  " + c.name + "  " + std::to_string(c.used) + "/" + std::to_string(c.capacity) +
            " used, " + std::to_string(std::max<std::int64_t>(0, c.capacity - c.used)) + " free\n";
  }
  return text;
}

}  // namespace

void register_lease_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  registry.add(declare_tool<AcquireArgs, AcquireOut>(
      {.name = "lease_acquire",
       .title = "Acquire leases",
       .description =
           std::string("Take TTL-bound exclusive or shared holds on one name or several (") +
           std::string(kNameDoc) +
           "): all granted at once or none. Each lease gets a fencing token that increases "
           "with every grant. A counted name (config lease.capacities, or capacity on first "
           "acquire) admits holders while their units fit its capacity. Refused: granted:false "
           "with refusal held | capacity | queued and who is in the way; or wait up to wait_ms "
           "in a fair queue (priority ages). Asking exclusive on your own shared hold upgrades "
           "it. A retry with the same request_id and arguments replays the first result "
           "(refusal released when that grant has since been released or expired).",
       .annotations = {.read_only = false, .destructive = false, .idempotent = false}},
      [env](const AcquireArgs& args, const mcp::CallContext& ctx) {
        const state::AcquireRequest req = acquire_request(args, *env);
        auto result = env->store->acquire_lease(env->principal(ctx), req,
                                                ctx.cancelled ? ctx.cancelled : state::CancelCheck{});
        AcquireOut out = acquire_out(result, canonical(req));
        std::string text = acquire_text(result, out);
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

  registry.add(declare_tool<ListArgs, ListOut>(
      {.name = "lease_list",
       .title = "List leases, queues and asks",
       .description =
           "Live leases of this project whose name starts with prefix, by name; the queue of "
           "waiting acquires (in the order they will be served), open release asks, and every "
           "counted name with its free units.",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const ListArgs& args, const mcp::CallContext& ctx) {
        const state::Principal who = env->principal(ctx);
        env->store->scavenge_dead_agents(who);  // a gone agent's holds are not live
        const state::LeaseBoard b = env->store->lease_board(who, args.prefix.value_or(""));
        ListOut out{held_out(b.leases), map_to<WaiterOut>(b.waiters, WaiterOut::of),
                    map_to<AskOut>(b.asks, AskOut::of),
                    map_to<CountedOut>(b.capacities, CountedOut::of)};
        return Reply<ListOut>{std::move(out), board_text(b)};
      }));

  register_lease_team_tools(registry, env);
}

}  // namespace keel::tools

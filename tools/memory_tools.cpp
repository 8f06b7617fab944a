// memory_get, memory_put, memory_delete, memory_list, memory_search,
// memory_take: scoped, versioned, audited key/value in the session and
// cross_run tiers, and the tuple space over it (take one entry at once, wait
// for a key or a prefix to change or match). memory_txn is in
// tools/memory_txn_tools.cpp.
#include <boost/json.hpp>

#include "tools/tool_support.h"
#include "tools/tools.h"

namespace keel::tools {

namespace json = boost::json;

namespace {

// The arguments every memory tool but memory_search starts with.
struct Scope {
  state::Tier tier = state::Tier::kCrossRun;
  state::Namespace namespace_ = state::Namespace::kOwn;
  static constexpr wire::Doc docs[] = {
      {.name = "tier",
       .description = "session: lives as long as this session (or its TTL); cross_run: durable",
       .show_default = true},
      {.name = "namespace_",
       .description = "own: only you can read it; shared: every agent of the project",
       .show_default = true}};
};
BOOST_DESCRIBE_STRUCT(Scope, (), (tier, namespace_))

struct FenceArg {
  std::string name{};
  std::int64_t token = 0;
  static constexpr wire::Doc docs[] = {{.name = "name", .min_length = 1},
                                       {.name = "token", .minimum = 1}};
};
BOOST_DESCRIBE_STRUCT(FenceArg, (), (name, token))

constexpr wire::Doc kKeyDoc{.name = "key", .min_length = 1};
constexpr wire::Doc kMatchDoc{
    .name = "match",
    .description = "a template over the value's fields: each field must equal the template's "
                   "(numbers by value; objects nest as templates; arrays compare whole), "
                   "{\"$exists\": true|false} asks only for its presence or absence; {} "
                   "matches every value"};
constexpr wire::Doc kFenceDoc{
    .name = "fence",
    .description = "refuse the write unless this lease token is the live one: fencing"};

// wait_ms, after_version or match make a read wait (Store::memory_wait) for
// the key to change or to match before it reads.
struct WaitArgs {
  std::optional<std::int64_t> wait_ms{};
  std::optional<std::int64_t> after_version{};
  std::optional<json::object> match{};
  bool waits() const { return wait_ms || after_version || match; }
};
// (Not described itself: GetArgs and ListArgs list its members after their
// own, so that key / prefix come first in their schemas.)

struct GetArgs : Scope, WaitArgs {
  std::string key{};
  static constexpr wire::Doc docs[] = {
      kKeyDoc,
      {.name = "wait_ms",
       .description = "wait up to this long until the key's version differs from after_version "
                      "(default 0: until it exists) and, with match, its value matches; then "
                      "read it. At most the server's maximum wait (10 min by default); "
                      "notifications/cancelled ends the wait",
       .minimum = 0},
      {.name = "after_version",
       .description = "the version you last saw: wait for another one (0: for the key to exist)",
       .minimum = 0},
      kMatchDoc};
};
BOOST_DESCRIBE_STRUCT(GetArgs, (Scope), (key, wait_ms, after_version, match))

struct PutArgs : Scope {
  std::string key{};
  json::value value{};
  std::optional<std::int64_t> expected_version{};
  std::optional<std::int64_t> ttl_ms{};
  std::optional<FenceArg> fence{};
  static constexpr wire::Doc docs[] = {kKeyDoc,
                                       {.name = "value", .description = "any JSON value"},
                                       {.name = "expected_version", .minimum = 0},
                                       {.name = "ttl_ms", .minimum = 1},
                                       kFenceDoc};
};
BOOST_DESCRIBE_STRUCT(PutArgs, (Scope), (key, value, expected_version, ttl_ms, fence))

struct DeleteArgs : Scope {
  std::string key{};
  std::optional<std::int64_t> expected_version{};
  std::optional<FenceArg> fence{};
  static constexpr wire::Doc docs[] = {kKeyDoc, {.name = "expected_version", .minimum = 0}, kFenceDoc};
};
BOOST_DESCRIBE_STRUCT(DeleteArgs, (Scope), (key, expected_version, fence))

struct ListArgs : Scope, WaitArgs {
  std::optional<std::string> prefix{};
  std::optional<std::string> cursor{};
  std::optional<std::int64_t> limit{};
  static constexpr wire::Doc docs[] = {
      {.name = "limit", .minimum = 1},
      {.name = "wait_ms",
       .description = "wait up to this long until some entry under prefix has a version above "
                      "after_version (default 0: until one exists) and, with match, a matching "
                      "value; then list. At most the server's maximum wait (10 min by default); "
                      "notifications/cancelled ends the wait",
       .minimum = 0},
      {.name = "after_version",
       .description = "wait for an entry whose version is above this; only gates the wait (the "
                      "page lists every key)",
       .minimum = 0},
      {.name = "match",
       .description = "a template (as memory_take's) an entry's value must match to end the "
                      "wait; only gates the wait (the page lists every key, values are not read)"}};
};
BOOST_DESCRIBE_STRUCT(ListArgs, (Scope), (prefix, cursor, limit, wait_ms, after_version, match))

struct TakeArgs : Scope {
  std::optional<std::string> key{};
  std::optional<std::string> prefix{};
  std::optional<json::object> match{};
  std::int64_t wait_ms = 0;
  static constexpr wire::Doc docs[] = {
      {.name = "key", .description = "take this entry; or give prefix", .min_length = 1},
      {.name = "prefix",
       .description = "take the oldest entry (by creation) whose key starts with this (\"\": "
                      "any key of the scope)"},
      kMatchDoc,
      {.name = "wait_ms",
       .description = "wait up to this long for an entry (matching) to appear (at most the "
                      "server's maximum wait, 10 min by default); notifications/cancelled ends "
                      "the wait",
       .minimum = 0,
       .show_default = true}};
};
BOOST_DESCRIBE_STRUCT(TakeArgs, (Scope), (key, prefix, match, wait_ms))

struct SearchArgs {
  std::string query{};
  std::optional<state::Tier> tier{};
  std::optional<state::Namespace> namespace_{};
  std::optional<std::int64_t> limit{};
  static constexpr wire::Doc docs[] = {{.name = "query", .min_length = 1},
                                       {.name = "limit", .minimum = 1}};
};
BOOST_DESCRIBE_STRUCT(SearchArgs, (), (query, tier, namespace_, limit))

// Where a key lives, as the results say it.
struct ScopeOut {
  std::string tier{};
  std::string namespace_{};
  std::string key{};
  static ScopeOut of(const Scope& s, const std::string& key) {
    return {std::string(state::to_string(s.tier)), std::string(state::to_string(s.namespace_)), key};
  }
};
BOOST_DESCRIBE_STRUCT(ScopeOut, (), (tier, namespace_, key))

struct GetOut {
  bool found = false;
  std::string tier{};
  std::string namespace_{};
  std::string key{};
  std::optional<json::value> value{};
  std::optional<std::int64_t> version{};
  std::optional<std::int64_t> updated_at{};
  std::optional<std::int64_t> expires_at{};
  std::optional<bool> satisfied{};
  std::optional<std::int64_t> waited_ms{};
  static constexpr wire::Doc docs[] = {
      {.name = "value", .description = "any JSON value"},
      {.name = "satisfied",
       .description = "with wait_ms, after_version or match: whether the key changed (and "
                      "matched) before wait_ms ran out; the value is read after the wait"}};
};
BOOST_DESCRIBE_STRUCT(GetOut, (),
                      (found, tier, namespace_, key, value, version, updated_at, expires_at,
                       satisfied, waited_ms))

struct PutOut : ScopeOut {
  std::int64_t version = 0;
  std::optional<std::int64_t> expires_at{};
};
BOOST_DESCRIBE_STRUCT(PutOut, (ScopeOut), (version, expires_at))

struct DeleteOut : ScopeOut {
  bool deleted = false;
};
BOOST_DESCRIBE_STRUCT(DeleteOut, (ScopeOut), (deleted))

struct EntryOut {
  std::string key{};
  std::int64_t version = 0;
  std::int64_t updated_at = 0;
  std::optional<std::int64_t> expires_at{};
  std::int64_t bytes = 0;
};
BOOST_DESCRIBE_STRUCT(EntryOut, (), (key, version, updated_at, expires_at, bytes))

struct ListOut {
  std::vector<EntryOut> entries{};
  std::optional<std::string> next_cursor{};
  std::optional<bool> satisfied{};
  std::optional<std::int64_t> waited_ms{};
  static constexpr wire::Doc docs[] = {
      {.name = "satisfied",
       .description = "with wait_ms, after_version or match: whether an entry (matching) newer "
                      "than after_version appeared before wait_ms ran out"}};
};
BOOST_DESCRIBE_STRUCT(ListOut, (), (entries, next_cursor, satisfied, waited_ms))

struct TakeOut {
  bool taken = false;
  std::string tier{};
  std::string namespace_{};
  std::optional<std::string> key{};
  std::optional<json::value> value{};
  std::optional<std::int64_t> version{};
  std::optional<std::int64_t> created_at{};
  std::optional<std::int64_t> updated_at{};
  std::int64_t waited_ms = 0;
  static constexpr wire::Doc docs[] = {
      {.name = "taken", .description = "false: nothing (matching) was there when wait_ms ran out"},
      {.name = "key", .description = "the entry taken (or the key asked for, when nothing was)"},
      {.name = "value", .description = "any JSON value"},
      {.name = "created_at", .description = "ms since the Unix epoch"},
      {.name = "updated_at", .description = "ms since the Unix epoch"}};
};
BOOST_DESCRIBE_STRUCT(TakeOut, (),
                      (taken, tier, namespace_, key, value, version, created_at, updated_at,
                       waited_ms))

struct HitOut {
  std::string tier{};
  std::string namespace_{};
  std::string key{};
  json::value value{};
  std::int64_t version = 0;
  double score = 0;
};
BOOST_DESCRIBE_STRUCT(HitOut, (), (tier, namespace_, key, value, version, score))

struct SearchOut {
  std::vector<HitOut> hits{};
};
BOOST_DESCRIBE_STRUCT(SearchOut, (), (hits))

std::optional<state::Fence> fence_of(const std::optional<FenceArg>& f) {
  if (!f) return std::nullopt;
  return state::Fence{f->name, f->token};
}

state::CancelCheck cancel_check(const mcp::CallContext& ctx) {
  return ctx.cancelled ? state::CancelCheck(ctx.cancelled) : state::CancelCheck{};
}

// The wait a read asked for (args.waits()): on `key`, or on the entries
// under `prefix` when by_prefix.
state::WaitResult wait_for(const ToolEnv& env, const mcp::CallContext& ctx, const Scope& scope,
                           const WaitArgs& args, std::string key, bool by_prefix,
                           std::string prefix) {
  state::WaitRequest req{};
  req.tier = scope.tier;
  req.ns = scope.namespace_;
  req.key = std::move(key);
  req.by_prefix = by_prefix;
  req.prefix = std::move(prefix);
  req.after_version = args.after_version.value_or(0);
  if (args.match) req.match = json::value(*args.match);
  req.wait_ms = args.wait_ms.value_or(0);
  return env.store->memory_wait(env.principal(ctx), req, cancel_check(ctx));
}

std::string waited_text(const state::WaitResult& w) {
  return w.satisfied ? "" : "(waited " + std::to_string(w.waited_ms) + " ms: no change)\n";
}

state::TakeRequest take_request(const TakeArgs& args) {
  if (args.key.has_value() == args.prefix.has_value()) {
    invalid_argument("give either key (that entry) or prefix (the oldest entry under it)");
  }
  state::TakeRequest req{};
  req.tier = args.tier;
  req.ns = args.namespace_;
  if (args.key) req.key = *args.key;
  req.by_prefix = args.prefix.has_value();
  req.prefix = args.prefix.value_or("");
  if (args.match) req.match = json::value(*args.match);
  req.wait_ms = args.wait_ms;
  return req;
}

Reply<TakeOut> take_reply(const TakeArgs& args, const state::TakeRequest& req,
                          const state::TakeResult& r) {
  const ScopeOut scope = ScopeOut::of(args, req.key);
  TakeOut out{.taken = r.taken, .tier = scope.tier, .namespace_ = scope.namespace_,
              .waited_ms = r.waited_ms};
  if (!r.taken) {
    if (!req.by_prefix) out.key = req.key;
    const std::string what = req.by_prefix ? "under prefix '" + req.prefix + "'" : req.key;
    const std::string waited =
        req.wait_ms > 0 ? " (waited " + std::to_string(r.waited_ms) + " ms)" : "";
    return {std::move(out), "nothing to take " + what + waited};
  }
  out.key = r.key;
  out.value = r.value;
  out.version = r.version;
  out.created_at = r.created_at_ms;
  out.updated_at = r.updated_at_ms;
  std::string text = "took " + r.key + " version " + std::to_string(r.version) + ":\n" +
                     json::serialize(r.value);
  return {std::move(out), std::move(text)};
}

}  // namespace

// memory_txn (tools/memory_txn_tools.cpp); registered by register_memory_tools.
void register_memory_txn_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);

void register_memory_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  registry.add(declare_tool<GetArgs, GetOut>(
      {.name = "memory_get",
       .title = "Read a memory key",
       .description =
           "Read one key from your own namespace or the project's shared one. wait_ms waits "
           "first until its version differs from after_version (0: until it exists) and, with "
           "match, its value matches (satisfied says whether it did).",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const GetArgs& args, const mcp::CallContext& ctx) {
        std::optional<state::WaitResult> waited;
        if (args.waits()) waited = wait_for(*env, ctx, args, args, args.key, false, "");
        auto r = env->store->memory_get(env->principal(ctx), args.tier, args.namespace_, args.key);
        const ScopeOut scope = ScopeOut::of(args, args.key);
        GetOut out{.found = r.found, .tier = scope.tier, .namespace_ = scope.namespace_, .key = args.key};
        if (waited) {
          out.satisfied = waited->satisfied;
          out.waited_ms = waited->waited_ms;
        }
        if (r.found) {
          out.value = r.value;
          out.version = r.version;
          out.updated_at = r.updated_at_ms;
          out.expires_at = r.expires_at_ms;
        }
        // A text-only client (Gemini CLI shows its model only this) must be able to
        // compare-and-set from what it read: the text carries the version too.
        std::string text = r.found ? args.key + " version " + std::to_string(r.version) +
                                         " (expected_version " + std::to_string(r.version) +
                                         " updates it only if unchanged):\n" +
                                         json::serialize(r.value)
                                   : "not found: " + args.key + " (expected_version 0 creates it)";
        if (waited) text = waited_text(*waited) + text;
        return Reply<GetOut>{std::move(out), std::move(text)};
      }));

  registry.add(declare_tool<PutArgs, PutOut>(
      {.name = "memory_put",
       .title = "Write a memory key",
       .description =
           "Write any JSON value under a key. Each write bumps the key's version; "
           "expected_version makes it a compare-and-set (0 = the key must not exist). "
           "ttl_ms expires it. fence {name, token} refuses the write unless that lease "
           "token is the live one. Every write is journaled.",
       .annotations = {.read_only = false, .destructive = true, .idempotent = false}},
      [env](const PutArgs& args, const mcp::CallContext& ctx) {
        state::PutRequest req{};
        req.tier = args.tier;
        req.ns = args.namespace_;
        req.key = args.key;
        req.value = args.value;
        req.expected_version = args.expected_version;
        req.ttl_ms = args.ttl_ms;
        req.fence = fence_of(args.fence);
        auto r = env->store->memory_put(env->principal(ctx), req);
        PutOut out{ScopeOut::of(args, req.key), r.version, r.expires_at_ms};
        return Reply<PutOut>{std::move(out), "stored " + req.key + " version " + std::to_string(r.version)};
      }));

  registry.add(declare_tool<DeleteArgs, DeleteOut>(
      {.name = "memory_delete",
       .title = "Delete a memory key",
       .description =
           "Delete a key. Succeeds with deleted:false when there was nothing to delete. "
           "Takes expected_version and fence like memory_put. Journaled.",
       .annotations = {.read_only = false, .destructive = true, .idempotent = true}},
      [env](const DeleteArgs& args, const mcp::CallContext& ctx) {
        state::DeleteRequest req{};
        req.tier = args.tier;
        req.ns = args.namespace_;
        req.key = args.key;
        req.expected_version = args.expected_version;
        req.fence = fence_of(args.fence);
        const bool deleted = env->store->memory_delete(env->principal(ctx), req);
        return Reply<DeleteOut>{{ScopeOut::of(args, req.key), deleted},
                                (deleted ? "deleted " : "nothing to delete: ") + req.key};
      }));

  registry.add(declare_tool<ListArgs, ListOut>(
      {.name = "memory_list",
       .title = "List memory keys",
       .description =
           "Keys starting with prefix, ascending, one page at a time: pass next_cursor "
           "back as cursor for the next page. wait_ms waits first until an entry under prefix "
           "has a version above after_version (and, with match, a matching value).",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const ListArgs& args, const mcp::CallContext& ctx) {
        std::optional<state::WaitResult> waited;
        if (args.waits()) waited = wait_for(*env, ctx, args, args, "", true, args.prefix.value_or(""));
        state::ListRequest req{};
        req.tier = args.tier;
        req.ns = args.namespace_;
        req.prefix = args.prefix.value_or("");
        req.cursor = args.cursor.value_or("");
        req.limit = static_cast<int>(args.limit.value_or(0));
        auto r = env->store->memory_list(env->principal(ctx), req);
        ListOut out;
        std::string text{};
        for (const auto& e : r.entries) {
          out.entries.push_back({e.key, e.version, e.updated_at_ms, e.expires_at_ms, e.bytes});
          text += e.key + "  v" + std::to_string(e.version) + "\n";
        }
        if (!r.next_cursor.empty()) {
          out.next_cursor = r.next_cursor;
          text += "(more: cursor " + r.next_cursor + ")\n";
        }
        if (text.empty()) text = "no keys\n";
        if (waited) {
          out.satisfied = waited->satisfied;
          out.waited_ms = waited->waited_ms;
          text = waited_text(*waited) + text;
        }
        return Reply<ListOut>{std::move(out), std::move(text)};
      }));

  registry.add(declare_tool<SearchArgs, SearchOut>(
      {.name = "memory_search",
       .title = "Search memory",
       .description =
           "Full-text search over the keys and values you can read (your own namespace "
           "and the shared one), best match first. Plain words; no query syntax needed.",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const SearchArgs& args, const mcp::CallContext& ctx) {
        state::SearchRequest req{};
        req.query = args.query;
        req.tier = args.tier;
        req.ns = args.namespace_;
        req.limit = static_cast<int>(args.limit.value_or(0));
        auto hits = env->store->memory_search(env->principal(ctx), req);
        auto hit = [](const state::SearchHit& h) {
          return HitOut{std::string(state::to_string(h.tier)), std::string(state::to_string(h.ns)),
                        h.key, h.value, h.version, h.score};
        };
        auto line = [](const state::SearchHit& h) {
          return std::string(state::to_string(h.ns)) + "/" + h.key + " v" +
                 std::to_string(h.version) + ": " + json::serialize(h.value) + "\n";
        };
        return Reply<SearchOut>{{map_to<HitOut>(hits, hit)}, lines_of(hits, line, "no matches\n")};
      }));

  registry.add(declare_tool<TakeArgs, TakeOut>(
      {.name = "memory_take",
       .title = "Take a memory entry",
       .description =
           "Remove one entry and return it, at once: the entry at key, or the oldest one "
           "whose key starts with prefix; with match, only an entry whose value matches the "
           "template. Of concurrent takers (other agents, processes, nodes) exactly one gets "
           "each entry: the work queue between agents. wait_ms waits for one to appear. "
           "Journaled (MEMORY_TAKE).",
       .annotations = {.read_only = false, .destructive = true, .idempotent = false}},
      [env](const TakeArgs& args, const mcp::CallContext& ctx) {
        const state::TakeRequest req = take_request(args);
        auto r = env->store->memory_take(env->principal(ctx), req, cancel_check(ctx));
        return take_reply(args, req, r);
      }));

  register_memory_txn_tools(registry, env);
}

}  // namespace keel::tools

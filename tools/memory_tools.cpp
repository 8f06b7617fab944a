// memory_get, memory_put, memory_delete, memory_list, memory_search: scoped,
// versioned, audited key/value in the session and cross_run tiers.
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
constexpr wire::Doc kFenceDoc{
    .name = "fence",
    .description = "refuse the write unless this lease token is the live one: fencing"};

struct GetArgs : Scope {
  std::string key{};
  static constexpr wire::Doc docs[] = {kKeyDoc};
};
BOOST_DESCRIBE_STRUCT(GetArgs, (Scope), (key))

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

struct ListArgs : Scope {
  std::optional<std::string> prefix{};
  std::optional<std::string> cursor{};
  std::optional<std::int64_t> limit{};
  static constexpr wire::Doc docs[] = {{.name = "limit", .minimum = 1}};
};
BOOST_DESCRIBE_STRUCT(ListArgs, (Scope), (prefix, cursor, limit))

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
  static constexpr wire::Doc docs[] = {{.name = "value", .description = "any JSON value"}};
};
BOOST_DESCRIBE_STRUCT(GetOut, (), (found, tier, namespace_, key, value, version, updated_at, expires_at))

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
};
BOOST_DESCRIBE_STRUCT(ListOut, (), (entries, next_cursor))

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

}  // namespace

void register_memory_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  registry.add(declare_tool<GetArgs, GetOut>(
      {.name = "memory_get",
       .title = "Read a memory key",
       .description = "Read one key from your own namespace or the project's shared one.",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const GetArgs& args, const mcp::CallContext& ctx) {
        auto r = env->store->memory_get(env->principal(ctx), args.tier, args.namespace_, args.key);
        const ScopeOut scope = ScopeOut::of(args, args.key);
        GetOut out{.found = r.found, .tier = scope.tier, .namespace_ = scope.namespace_, .key = args.key};
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
           "back as cursor for the next page.",
       .annotations = {.read_only = true, .destructive = false, .idempotent = true}},
      [env](const ListArgs& args, const mcp::CallContext& ctx) {
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
}

}  // namespace keel::tools

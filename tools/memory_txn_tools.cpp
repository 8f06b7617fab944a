// memory_txn: compare several keys' versions or values (within a numeric
// tolerance) and leases' tokens, then apply several puts and deletes — the
// `then` branch when every compare holds, the `else` branch otherwise — in
// one store transaction with one MEMORY_TXN record. The drift check: an agent
// states what it believes and acts only if the world still agrees. The rules
// live in state/ (Store::memory_txn).
#include <boost/json.hpp>

#include "tools/tool_support.h"
#include "tools/tools.h"

namespace keel::tools {

namespace json = boost::json;

void register_memory_txn_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env);

namespace {

constexpr std::string_view kOps[] = {"put", "delete"};
constexpr wire::Doc kTierDoc{.name = "tier", .show_default = true};
constexpr wire::Doc kNamespaceDoc{.name = "namespace_", .show_default = true};

// One condition: a key's version, a key's value, or a lease's token.
struct CompareArg {
  std::optional<std::string> key{};
  std::optional<std::string> lease{};
  state::Tier tier = state::Tier::kCrossRun;
  state::Namespace namespace_ = state::Namespace::kOwn;
  std::optional<std::int64_t> version{};
  std::optional<json::value> value{};
  std::optional<double> tolerance{};
  std::optional<std::int64_t> token{};
  static constexpr wire::Doc docs[] = {
      {.name = "key", .description = "compare this memory key (with version or value); or give lease",
       .min_length = 1},
      {.name = "lease", .description = "compare the live lease on this name (with token)",
       .min_length = 1},
      kTierDoc,
      kNamespaceDoc,
      {.name = "version", .description = "the key's version must be this (0: the key is absent)",
       .minimum = 0},
      {.name = "value",
       .description = "the key must exist and its value equal this (any JSON), numbers anywhere "
                      "in it within ± tolerance"},
      {.name = "tolerance", .description = "with value: how far numbers may differ (default 0)",
       .minimum = 0},
      {.name = "token", .description = "with lease: a live lease on it carries this fencing token",
       .minimum = 1}};
};
BOOST_DESCRIBE_STRUCT(CompareArg, (),
                      (key, lease, tier, namespace_, version, value, tolerance, token))

// One write.
struct OpArg {
  std::string op{};
  std::string key{};
  state::Tier tier = state::Tier::kCrossRun;
  state::Namespace namespace_ = state::Namespace::kOwn;
  std::optional<json::value> value{};
  std::optional<std::int64_t> ttl_ms{};
  static constexpr wire::Doc docs[] = {
      {.name = "op", .one_of = kOps},
      {.name = "key", .min_length = 1},
      kTierDoc,
      kNamespaceDoc,
      {.name = "value", .description = "put: any JSON value (required)"},
      {.name = "ttl_ms", .description = "put: expire it after this long", .minimum = 1}};
};
BOOST_DESCRIBE_STRUCT(OpArg, (), (op, key, tier, namespace_, value, ttl_ms))

struct TxnArgs {
  std::vector<CompareArg> compare{};
  std::vector<OpArg> then{};
  std::optional<std::vector<OpArg>> else_{};
  static constexpr wire::Doc docs[] = {
      {.name = "compare",
       .description = "conditions that must all hold ([]: always); each a key with version or "
                      "value (+tolerance), or a lease with token",
       .max_items = static_cast<std::int64_t>(state::kTxnMaxCompares)},
      {.name = "then",
       .description = "writes applied, in order, when every compare holds",
       .max_items = static_cast<std::int64_t>(state::kTxnMaxOps)},
      {.name = "else_",
       .description = "writes applied, in order, when some compare does not hold",
       .max_items = static_cast<std::int64_t>(state::kTxnMaxOps)}};
};
BOOST_DESCRIBE_STRUCT(TxnArgs, (), (compare, then, else_))

struct OpResultOut {
  std::string op{};
  std::string tier{};
  std::string namespace_{};
  std::string key{};
  std::int64_t version = 0;
  bool deleted = false;
  std::optional<std::int64_t> expires_at{};
  static constexpr wire::Doc docs[] = {
      {.name = "version", .description = "put: the new version; delete: 0"},
      {.name = "deleted", .description = "delete: whether there was something to delete"}};
};
BOOST_DESCRIBE_STRUCT(OpResultOut, (), (op, tier, namespace_, key, version, deleted, expires_at))

struct TxnOut {
  bool succeeded = false;
  std::vector<bool> compare_held{};
  std::vector<OpResultOut> results{};
  std::int64_t journal_seq = 0;
  static constexpr wire::Doc docs[] = {
      {.name = "succeeded", .description = "every compare held: `then` ran (else `else` ran)"},
      {.name = "compare_held", .description = "one per compare, in order"},
      {.name = "results", .description = "the writes of the branch that ran, in order"},
      {.name = "journal_seq", .description = "its MEMORY_TXN record; 0: nothing was written"}};
};
BOOST_DESCRIBE_STRUCT(TxnOut, (), (succeeded, compare_held, results, journal_seq))

std::string at(std::string_view list, std::size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

state::TxnCompare compare_of(const CompareArg& a, const std::string& where) {
  state::TxnCompare c{};
  c.tier = a.tier;
  c.ns = a.namespace_;
  if (a.key.has_value() == a.lease.has_value()) {
    invalid_argument(where + ": give either key (with version or value) or lease (with token)");
  }
  if (a.lease) {
    if (!a.token) invalid_argument(where + ": lease needs token");
    if (a.version || a.value || a.tolerance) {
      invalid_argument(where + ": a lease compares token only (no version, value or tolerance)");
    }
    c.kind = state::TxnCompare::Kind::kLease;
    c.lease_name = *a.lease;
    c.token = *a.token;
    return c;
  }
  if (a.token) invalid_argument(where + ": token goes with lease, not key");
  if (a.version.has_value() == a.value.has_value()) {
    invalid_argument(where + ": give either version or value for key " + *a.key);
  }
  c.key = *a.key;
  if (a.version) {
    if (a.tolerance) invalid_argument(where + ": tolerance goes with value, not version");
    c.kind = state::TxnCompare::Kind::kVersion;
    c.version = *a.version;
    return c;
  }
  c.kind = state::TxnCompare::Kind::kValue;
  c.value = *a.value;
  c.tolerance = a.tolerance.value_or(0);
  return c;
}

state::TxnOp op_of(const OpArg& a, const std::string& where) {
  state::TxnOp op{};
  op.tier = a.tier;
  op.ns = a.namespace_;
  op.key = a.key;
  if (a.op == "put") {
    if (!a.value) invalid_argument(where + ": put needs value");
    op.kind = state::TxnOp::Kind::kPut;
    op.value = *a.value;
    op.ttl_ms = a.ttl_ms;
  } else if (a.op == "delete") {
    if (a.value || a.ttl_ms) invalid_argument(where + ": delete takes no value or ttl_ms");
    op.kind = state::TxnOp::Kind::kDelete;
  } else {
    invalid_argument(where + ": op must be put or delete");
  }
  return op;
}

std::vector<state::TxnOp> ops_of(const std::vector<OpArg>& args, std::string_view list) {
  std::vector<state::TxnOp> out;
  out.reserve(args.size());
  for (std::size_t i = 0; i < args.size(); ++i) out.push_back(op_of(args[i], at(list, i)));
  return out;
}

state::TxnRequest txn_request(const TxnArgs& args) {
  state::TxnRequest req{};
  for (std::size_t i = 0; i < args.compare.size(); ++i) {
    req.compare.push_back(compare_of(args.compare[i], at("compare", i)));
  }
  req.then_ops = ops_of(args.then, "then");
  if (args.else_) req.else_ops = ops_of(*args.else_, "else");
  return req;
}

std::string_view op_name(state::TxnOp::Kind kind) {
  return kind == state::TxnOp::Kind::kPut ? "put" : "delete";
}

// The results of the branch that ran, with the scope each write named.
std::vector<OpResultOut> results_out(const state::TxnRequest& req, const state::TxnResult& r) {
  const auto& ops = r.succeeded ? req.then_ops : req.else_ops;
  std::vector<OpResultOut> out;
  for (std::size_t i = 0; i < r.results.size(); ++i) {
    const auto& res = r.results[i];
    OpResultOut o{.op = std::string(op_name(res.kind)), .key = res.key, .version = res.version,
                  .deleted = res.deleted, .expires_at = res.expires_at_ms};
    if (i < ops.size()) {
      o.tier = std::string(state::to_string(ops[i].tier));
      o.namespace_ = std::string(state::to_string(ops[i].ns));
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::string txn_text(const TxnOut& out) {
  std::string held;
  for (bool h : out.compare_held) held += (held.empty() ? "" : ",") + std::string(h ? "true" : "false");
  std::string text = out.succeeded ? "compare held: then" : "compare failed [" + held + "]: else";
  if (out.results.empty()) return text + " had nothing to write\n";
  text += " applied (journal seq " + std::to_string(out.journal_seq) + "):\n";
  for (const auto& r : out.results) {
    text += "  " + r.op + " " + r.key +
            (r.op == "put" ? " version " + std::to_string(r.version)
                           : r.deleted ? " (deleted)" : " (nothing to delete)") +
            "\n";
  }
  return text;
}

}  // namespace

void register_memory_txn_tools(mcp::ToolRegistry& registry, std::shared_ptr<const ToolEnv> env) {
  registry.add(declare_tool<TxnArgs, TxnOut>(
      {.name = "memory_txn",
       .title = "Compare, then write, atomically",
       .description =
           "The drift check: state what you believe — keys' versions (0: absent), keys' values "
           "(numbers within ± tolerance), leases' tokens — and act only if the world still "
           "agrees. When every compare holds the `then` writes (put / delete) apply, otherwise "
           "the `else` writes; all in one transaction with one journal record (MEMORY_TXN), or "
           "nothing. compare_held says which compares held.",
       .annotations = {.read_only = false, .destructive = true, .idempotent = false}},
      [env](const TxnArgs& args, const mcp::CallContext& ctx) {
        const state::TxnRequest req = txn_request(args);
        const state::TxnResult r = env->store->memory_txn(env->principal(ctx), req);
        TxnOut out{.succeeded = r.succeeded, .compare_held = r.compare_held,
                   .results = results_out(req, r), .journal_seq = r.journal_seq};
        std::string text = txn_text(out);
        return Reply<TxnOut>{std::move(out), std::move(text)};
      }));
}

}  // namespace keel::tools

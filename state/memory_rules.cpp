// keel/state/memory_rules.cpp — see memory_rules.h.
#include "state/memory_rules.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "crypto/hex.h"
#include "state/lease_name.h"
#include "state/memory_match.h"
#include "state/store_common.h"

namespace keel::state::memory_rules {
namespace json = boost::json;
using store_common::require;

namespace {

std::string_view tier_cap(Tier tier) {
  return tier == Tier::kSession ? caps::kMemorySession : caps::kMemoryCrossRun;
}

// The (tier, ns, scope) of a slot; session_id is the caller's to set.
Slot address(const Principal& who, Tier tier, Namespace ns) {
  Slot slot;
  slot.tier = std::string(to_string(tier));
  slot.ns = ns == Namespace::kShared ? std::string("shared") : "agent:" + who.agent;
  slot.scope = (tier == Tier::kSession && ns == Namespace::kOwn) ? who.session_id : "";
  return slot;
}

void no_agent() {
  throw StoreError(ErrorCode::kInvalidArgument, "the principal has no agent name");
}

std::optional<std::string> hex_decode(std::string_view s) {
  if (s.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    const int hi = nibble(s[i]);
    const int lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

constexpr std::string_view kCursorPrefix = "k1.";

void collect_strings(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::string:
      out += ' ';
      out += v.get_string();
      break;
    case json::kind::array:
      for (const json::value& e : v.get_array()) collect_strings(e, out);
      break;
    case json::kind::object:
      for (const auto& kv : v.get_object()) collect_strings(kv.value(), out);
      break;
    default:
      break;
  }
}

}  // namespace

Slot slot_for(const Principal& who, Tier tier, Namespace ns) {
  require(who, tier_cap(tier));
  if (ns == Namespace::kShared) require(who, caps::kMemoryShared);
  if (who.agent.empty()) no_agent();
  if (tier == Tier::kSession && who.session_id.empty()) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "the session tier needs a session; this caller has none (use cross_run)");
  }
  Slot slot = address(who, tier, ns);
  slot.session_id = tier == Tier::kSession ? who.session_id : "";
  return slot;
}

// An explicitly requested tier or the shared namespace must be allowed; by
// default only what the capabilities allow is searched. Own session rows
// need a session; without one there are none.
std::vector<Slot> search_slots(const Principal& who, const SearchRequest& r) {
  if (r.tier) require(who, tier_cap(*r.tier));
  if (r.ns && *r.ns == Namespace::kShared) require(who, caps::kMemoryShared);
  if (!who.can(caps::kMemorySession) && !who.can(caps::kMemoryCrossRun)) {
    throw StoreError(ErrorCode::kPermissionDenied,
                     "principal '" + who.agent + "' may not read memory");
  }
  if (who.agent.empty()) no_agent();
  std::vector<Slot> visible;
  for (const Tier tier : {Tier::kSession, Tier::kCrossRun}) {
    if (r.tier ? *r.tier != tier : !who.can(tier_cap(tier))) continue;
    for (const Namespace ns : {Namespace::kOwn, Namespace::kShared}) {
      if (r.ns ? *r.ns != ns : (ns == Namespace::kShared && !who.can(caps::kMemoryShared))) {
        continue;
      }
      if (tier == Tier::kSession && ns == Namespace::kOwn && who.session_id.empty()) continue;
      visible.push_back(address(who, tier, ns));
    }
  }
  return visible;
}

void check_key(std::string_view key, std::int64_t max_key_bytes) {
  if (key.empty()) throw StoreError(ErrorCode::kInvalidArgument, "key must not be empty");
  if (key.find('\0') != std::string_view::npos) {
    throw StoreError(ErrorCode::kInvalidArgument, "key must not contain NUL");
  }
  if (static_cast<std::int64_t>(key.size()) > max_key_bytes) {
    throw StoreError(ErrorCode::kTooLarge, "key is " + std::to_string(key.size()) +
                                               " bytes; the limit is " +
                                               std::to_string(max_key_bytes));
  }
}

void check_expected_version(const std::optional<std::int64_t>& expected_version) {
  if (expected_version && *expected_version < 0) {
    throw StoreError(ErrorCode::kInvalidArgument, "expected_version must be ≥ 0");
  }
}

void check_ttl(const std::optional<std::int64_t>& ttl_ms) {
  if (ttl_ms && *ttl_ms <= 0) {
    throw StoreError(ErrorCode::kInvalidArgument, "ttl_ms must be > 0");
  }
}

void check_value_size(std::string_view value_text, std::int64_t max_value_bytes) {
  if (static_cast<std::int64_t>(value_text.size()) > max_value_bytes) {
    throw StoreError(ErrorCode::kTooLarge, "value is " + std::to_string(value_text.size()) +
                                               " bytes serialized; the limit is " +
                                               std::to_string(max_value_bytes));
  }
}

void check_search_query(std::string_view query) {
  const bool blank = std::all_of(query.begin(), query.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0;
  });
  if (blank) throw StoreError(ErrorCode::kInvalidArgument, "search query is empty");
}

int page_limit(int requested, int page_size, int max_page_size) {
  if (requested < 0) throw StoreError(ErrorCode::kInvalidArgument, "limit must be ≥ 0");
  return requested == 0 ? page_size : std::min(requested, max_page_size);
}

std::string encode_list_cursor(std::string_view last_key) {
  return std::string(kCursorPrefix) + crypto::to_hex(last_key);
}

std::optional<std::string> decode_list_cursor(std::string_view cursor) {
  if (cursor.empty()) return std::nullopt;
  std::optional<std::string> after;
  if (cursor.starts_with(kCursorPrefix)) after = hex_decode(cursor.substr(kCursorPrefix.size()));
  if (!after || after->empty()) {
    throw StoreError(ErrorCode::kInvalidArgument, "invalid list cursor");
  }
  return after;
}

std::string subject_of(std::string_view tier, std::string_view ns, std::string_view key) {
  return "memory:" + std::string(tier) + "/" + std::string(ns) + "/" + std::string(key);
}

json::object put_payload(const Slot& slot, std::string_view key, std::int64_t version,
                         std::int64_t bytes, const std::string& sha256,
                         const std::optional<std::int64_t>& expires_at,
                         const std::optional<Fence>& fence) {
  json::object payload{{"tier", slot.tier}, {"namespace", slot.ns}, {"key", key},
                       {"version", version}, {"bytes", bytes},      {"sha256", sha256}};
  if (expires_at) payload["expires_at"] = *expires_at;
  if (fence) payload["fence_token"] = fence->token;
  return payload;
}

json::object delete_payload(const Slot& slot, std::string_view key, std::int64_t version,
                            const std::optional<Fence>& fence) {
  json::object payload{
      {"tier", slot.tier}, {"namespace", slot.ns}, {"key", key}, {"version", version}};
  if (fence) payload["fence_token"] = fence->token;
  return payload;
}

json::object stale_fence_payload(std::string_view action, const std::string& fence_name,
                                 std::int64_t fence_token) {
  return json::object{{"reason", "stale_fence"},
                      {"action", action},
                      {"fence_name", fence_name},
                      {"fence_token", fence_token}};
}

void throw_if_refused(WriteStatus status, const std::string& fence_name, std::int64_t fence_token,
                      std::int64_t expected_version, std::int64_t current_version,
                      std::string_view what) {
  if (status == WriteStatus::kStaleFence) {
    throw StoreError(ErrorCode::kStaleFence,
                     "fence " + fence_name + " #" + std::to_string(fence_token) +
                         " is not the caller's live lease (or is older than one this key "
                         "accepted); the " + std::string(what) + " was refused");
  }
  if (status == WriteStatus::kMismatch) {
    throw StoreError(ErrorCode::kVersionMismatch,
                     "expected version " + std::to_string(expected_version) +
                         " but the current version is " + std::to_string(current_version));
  }
}

namespace {

// The parts a take and a wait share: key XOR prefix, match, wait_ms.
void check_lookup(std::string_view call, std::string_view key, bool by_prefix,
                  std::string_view prefix, const std::optional<json::value>& match,
                  std::int64_t wait_ms, std::int64_t max_key_bytes, std::int64_t max_wait_ms) {
  if (by_prefix == !key.empty()) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     std::string(call) + " needs either a key or a prefix, not both");
  }
  if (by_prefix) {
    if (prefix.find('\0') != std::string_view::npos) {
      throw StoreError(ErrorCode::kInvalidArgument, "prefix must not contain NUL");
    }
    if (static_cast<std::int64_t>(prefix.size()) > max_key_bytes) {
      throw StoreError(ErrorCode::kTooLarge, "prefix is " + std::to_string(prefix.size()) +
                                                 " bytes; the limit is " +
                                                 std::to_string(max_key_bytes));
    }
  } else {
    check_key(key, max_key_bytes);
  }
  if (match) check_match_template(*match);
  if (wait_ms < 0 || wait_ms > max_wait_ms) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "wait_ms must be between 0 and " + std::to_string(max_wait_ms));
  }
}

std::string_view compare_kind_name(TxnCompare::Kind kind) {
  switch (kind) {
    case TxnCompare::Kind::kVersion:
      return "version";
    case TxnCompare::Kind::kValue:
      return "value";
    case TxnCompare::Kind::kLease:
      return "lease";
  }
  return "version";
}

void check_txn_op(const TxnOp& op, std::int64_t max_key_bytes, std::int64_t max_value_bytes) {
  check_key(op.key, max_key_bytes);
  if (op.kind != TxnOp::Kind::kPut) return;
  check_ttl(op.ttl_ms);
  check_value_size(json::serialize(op.value), max_value_bytes);
}

}  // namespace

void check_take_request(const TakeRequest& r, std::int64_t max_key_bytes,
                        std::int64_t max_wait_ms) {
  check_lookup("memory_take", r.key, r.by_prefix, r.prefix, r.match, r.wait_ms, max_key_bytes,
               max_wait_ms);
}

void check_wait_request(const WaitRequest& r, std::int64_t max_key_bytes,
                        std::int64_t max_wait_ms) {
  check_lookup("memory_wait", r.key, r.by_prefix, r.prefix, r.match, r.wait_ms, max_key_bytes,
               max_wait_ms);
  if (r.after_version < 0) {
    throw StoreError(ErrorCode::kInvalidArgument, "after_version must be ≥ 0");
  }
}

bool key_wait_satisfied(const WaitRequest& r, std::int64_t version, const json::value* value) {
  if (version == r.after_version) return false;
  if (!r.match) return true;
  return value != nullptr && matches_template(*value, *r.match);
}

bool prefix_entry_satisfies(const WaitRequest& r, std::int64_t version, const json::value& value) {
  return version > r.after_version && (!r.match || matches_template(value, *r.match));
}

bool take_matches(const TakeRequest& r, const json::value& value) {
  return !r.match || matches_template(value, *r.match);
}

StoreError wait_cancelled(std::string_view call, std::string_view key, bool by_prefix,
                          std::string_view prefix) {
  const std::string what = by_prefix ? "prefix '" + std::string(prefix) + "'"
                                     : "key '" + std::string(key) + "'";
  return StoreError(ErrorCode::kCancelled,
                    std::string(call) + " on " + what + " was cancelled while waiting");
}

json::object take_payload(const Slot& slot, std::string_view key, std::int64_t version,
                          std::int64_t bytes, const std::string& value_sha256) {
  return json::object{{"tier", slot.tier},  {"namespace", slot.ns}, {"key", key},
                      {"version", version}, {"bytes", bytes},       {"value_sha256", value_sha256}};
}

void check_txn_request(const TxnRequest& r, std::int64_t max_key_bytes,
                       std::int64_t max_value_bytes) {
  if (r.compare.size() > kTxnMaxCompares) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     "memory_txn has " + std::to_string(r.compare.size()) +
                         " compares; the limit is " + std::to_string(kTxnMaxCompares));
  }
  for (const auto* branch : {&r.then_ops, &r.else_ops}) {
    if (branch->size() > kTxnMaxOps) {
      throw StoreError(ErrorCode::kInvalidArgument,
                       "a memory_txn branch has " + std::to_string(branch->size()) +
                           " ops; the limit is " + std::to_string(kTxnMaxOps));
    }
  }
  for (const TxnCompare& c : r.compare) {
    if (c.kind == TxnCompare::Kind::kLease) {
      (void)normalize_lease_name(c.lease_name);
      continue;
    }
    check_key(c.key, max_key_bytes);
    if (c.kind == TxnCompare::Kind::kVersion && c.version < 0) {
      throw StoreError(ErrorCode::kInvalidArgument, "a version compare's version must be ≥ 0");
    }
    if (c.kind == TxnCompare::Kind::kValue && !(std::isfinite(c.tolerance) && c.tolerance >= 0)) {
      throw StoreError(ErrorCode::kInvalidArgument,
                       "a value compare's tolerance must be a finite number ≥ 0");
    }
  }
  for (const TxnOp& op : r.then_ops) check_txn_op(op, max_key_bytes, max_value_bytes);
  for (const TxnOp& op : r.else_ops) check_txn_op(op, max_key_bytes, max_value_bytes);
}

bool row_compare_holds(const TxnCompare& c, std::int64_t version, const json::value* value) {
  if (c.kind == TxnCompare::Kind::kVersion) return version == c.version;
  return value != nullptr && equal_within(*value, c.value, c.tolerance);
}

json::object txn_compare_payload(const TxnCompare& c, const Slot& slot, bool held) {
  json::object out{{"kind", compare_kind_name(c.kind)},
                   {"tier", slot.tier},
                   {"namespace", slot.ns},
                   {"key", c.key}};
  if (c.kind == TxnCompare::Kind::kVersion) out["version"] = c.version;
  if (c.kind == TxnCompare::Kind::kValue) out["tolerance"] = c.tolerance;
  out["held"] = held;
  return out;
}

json::object txn_lease_compare_payload(std::string_view normalized_lease_name,
                                       std::int64_t token, bool held) {
  return json::object{
      {"kind", "lease"}, {"lease_name", normalized_lease_name}, {"token", token}, {"held", held}};
}

json::object txn_put_payload(const Slot& slot, std::string_view key, std::int64_t version,
                             std::int64_t bytes, const std::string& value_sha256,
                             const std::optional<std::int64_t>& expires_at) {
  json::object out{{"op", "put"},       {"tier", slot.tier}, {"namespace", slot.ns},
                   {"key", key},        {"version", version}, {"bytes", bytes},
                   {"value_sha256", value_sha256}};
  if (expires_at) out["expires_at"] = *expires_at;
  return out;
}

json::object txn_delete_payload(const Slot& slot, std::string_view key,
                                std::int64_t deleted_version, bool deleted) {
  return json::object{{"op", "delete"}, {"tier", slot.tier},         {"namespace", slot.ns},
                      {"key", key},     {"version", deleted_version}, {"deleted", deleted}};
}

json::object txn_payload(bool succeeded, json::array compares, json::array ops) {
  return json::object{
      {"succeeded", succeeded}, {"compares", std::move(compares)}, {"ops", std::move(ops)}};
}

void TxnOutcome::record_compare(bool held, json::object payload) {
  result_.compare_held.push_back(held);
  if (!held) result_.succeeded = false;
  compares_.push_back(std::move(payload));
}

bool TxnOutcome::row_compare(const TxnCompare& c, const Slot& slot, std::int64_t version,
                             const json::value* value) {
  const bool held = row_compare_holds(c, version, value);
  record_compare(held, txn_compare_payload(c, slot, held));
  return held;
}

void TxnOutcome::lease_compare(const TxnCompare& c, std::string_view normalized_name, bool held) {
  record_compare(held, txn_lease_compare_payload(normalized_name, c.token, held));
}

const TxnOpResult& TxnOutcome::put(const TxnOp& op, const Slot& slot,
                                   std::int64_t previous_version, std::int64_t now,
                                   std::int64_t bytes, const std::string& value_sha256) {
  TxnOpResult out;
  out.kind = TxnOp::Kind::kPut;
  out.key = op.key;
  out.version = previous_version + 1;
  if (op.ttl_ms) out.expires_at_ms = now + *op.ttl_ms;
  ops_.push_back(
      txn_put_payload(slot, op.key, out.version, bytes, value_sha256, out.expires_at_ms));
  result_.results.push_back(std::move(out));
  return result_.results.back();
}

const TxnOpResult& TxnOutcome::remove(const TxnOp& op, const Slot& slot,
                                      std::int64_t deleted_version) {
  TxnOpResult out;
  out.kind = TxnOp::Kind::kDelete;
  out.key = op.key;
  out.deleted = deleted_version != 0;
  ops_.push_back(txn_delete_payload(slot, op.key, deleted_version, out.deleted));
  result_.results.push_back(std::move(out));
  return result_.results.back();
}

std::vector<std::string_view> query_words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    const std::string_view word = text.substr(i, j - i);
    const bool has_token = std::any_of(word.begin(), word.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return std::isalnum(u) || u >= 0x80;
    });
    if (has_token) words.push_back(word);
    i = j;
  }
  return words;
}

std::string search_text(std::string_view key, const json::value& value) {
  std::string body(key);
  collect_strings(value, body);
  return body;
}

std::string search_text(std::string_view key, std::string_view value_text) {
  std::string body(key);
  boost::system::error_code ec;
  const json::value v = json::parse(value_text, ec);
  if (!ec) collect_strings(v, body);
  return body;
}

}  // namespace keel::state::memory_rules

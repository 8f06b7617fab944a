// keel/state/memory_rules.cpp — see memory_rules.h.
#include "state/memory_rules.h"

#include <algorithm>
#include <cctype>

#include "crypto/hex.h"
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

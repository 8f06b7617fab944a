// keel/state/request_rules.h — the rules of idempotent tool calls
// (Store::claim_request and friends) that both backends share: what a valid
// claim is, and what a claim finds in the row already stored for its id.
// Nothing here touches a database.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "state/principal.h"
#include "state/request_types.h"
#include "state/store_options.h"

namespace keel::state::request_rules {

// Throws StoreError(kInvalidArgument) unless who names an agent and a
// project, tool is not empty and request_id has 1..kMaxRequestIdBytes bytes.
void validate(const Principal& who, std::string_view tool, std::string_view request_id);
// validate(), and args_hash must not be empty and expected_ms not negative.
void validate_claim(const Principal& who, std::string_view tool, std::string_view request_id,
                    std::string_view args_hash, std::int64_t expected_ms);
// validate(), and claim_id must not be empty (complete / abandon).
void validate_owner(const Principal& who, std::string_view tool, std::string_view request_id,
                    std::string_view claim_id);

// The row stored for (project, agent, tool, request_id).
struct StoredRequest {
  std::string args_hash;
  std::optional<std::string> result;  // nullopt: claimed, not completed
  std::int64_t claimed_at_ms = 0;
  std::int64_t stale_at_ms = 0;  // an uncompleted claim is taken over from then
};

// Rows claimed before this are dropped once they are not a live claim
// (stale_at <= now; a claim finding one treats it as absent):
// now - request_retention_ms.
std::int64_t retention_cut(const StoreOptions& options, std::int64_t now);
// When a claim made at `now` for a call expected to take expected_ms goes
// stale: now + expected_ms + request_claim_stale_ms, saturating (a huge
// expected_ms means never, not an overflow).
std::int64_t stale_at(const StoreOptions& options, std::int64_t now, std::int64_t expected_ms);
// A new claim's owner token (RequestClaim::claim_id): unique in practice,
// not secret (only the caller that claimed ever sees it).
std::string new_claim_id();

// What a claim with `args_hash` at `now` finds in `row` (nullopt: none).
// kNew means the caller (re)writes the row as its own claim: none, one past
// retention and not live, or an uncompleted claim with the same arguments
// whose stale_at has come (<= now). Other
// arguments are kMismatch whether the first call completed or not.
RequestClaim decide(const std::optional<StoredRequest>& row, std::string_view args_hash,
                    const StoreOptions& options, std::int64_t now);

}  // namespace keel::state::request_rules

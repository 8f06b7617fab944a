#include "state/request_rules.h"

#include <limits>

#include "crypto/random.h"

namespace keel::state::request_rules {

namespace {

[[noreturn]] void invalid(const std::string& message) {
  throw StoreError(ErrorCode::kInvalidArgument, message);
}

}  // namespace

void validate(const Principal& who, std::string_view tool, std::string_view request_id) {
  if (who.agent.empty()) invalid("request_id needs a caller with an agent name");
  if (who.project.empty()) invalid("request_id needs a caller with a project");
  if (tool.empty()) invalid("request_id needs a tool name");
  if (request_id.empty() || request_id.size() > kMaxRequestIdBytes) {
    invalid("request_id must have 1 to " + std::to_string(kMaxRequestIdBytes) + " bytes (has " +
            std::to_string(request_id.size()) + ")");
  }
}

void validate_claim(const Principal& who, std::string_view tool, std::string_view request_id,
                    std::string_view args_hash, std::int64_t expected_ms) {
  validate(who, tool, request_id);
  if (args_hash.empty()) invalid("request_id needs the hash of the call's arguments");
  if (expected_ms < 0) {
    invalid("request_id: expected_ms must be >= 0 (is " + std::to_string(expected_ms) + ")");
  }
}

void validate_owner(const Principal& who, std::string_view tool, std::string_view request_id,
                    std::string_view claim_id) {
  validate(who, tool, request_id);
  if (claim_id.empty()) invalid("request_id needs the claim_id its claim returned");
}

std::int64_t retention_cut(const StoreOptions& options, std::int64_t now) {
  return now - options.request_retention_ms;
}

std::int64_t stale_at(const StoreOptions& options, std::int64_t now, std::int64_t expected_ms) {
  constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
  const std::int64_t horizon = options.request_claim_stale_ms;
  if (expected_ms > kNever - horizon || expected_ms + horizon > kNever - now) return kNever;
  return now + expected_ms + horizon;
}

std::string new_claim_id() { return crypto::random_hex(16); }

RequestClaim decide(const std::optional<StoredRequest>& row, std::string_view args_hash,
                    const StoreOptions& options, std::int64_t now) {
  using Status = RequestClaim::Status;
  if (!row ||
      (row->claimed_at_ms < retention_cut(options, now) && row->stale_at_ms <= now)) {
    return RequestClaim{};
  }
  if (row->args_hash != args_hash) {
    return RequestClaim{Status::kMismatch, "", row->claimed_at_ms};
  }
  if (row->result) return RequestClaim{Status::kReplay, *row->result, row->claimed_at_ms};
  if (row->stale_at_ms > now) {
    return RequestClaim{Status::kInFlight, "", row->claimed_at_ms};
  }
  return RequestClaim{};  // stale: its caller died mid-call; taken over
}

}  // namespace keel::state::request_rules

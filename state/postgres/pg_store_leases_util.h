// keel/state/postgres/pg_store_leases_util.h — small helpers the PostgreSQL
// lease and agent files (pg_store_leases.cpp, pg_store_leases_wait.cpp,
// pg_store_agents.cpp) share.
//
// Thread safety: pure functions.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "state/lease_rules.h"
#include "state/postgres/pg_store.h"
#include "state/postgres/pg_store_memory_text.h"

namespace keel::state::pg_lease_util {

// PostgreSQL text is UTF-8 without NUL bytes, where SQLite stores any bytes
// (and libpq would cut a parameter at its first NUL, so "a\0b" would become
// "a"). True when `v` can be stored as it is.
inline bool is_text(std::string_view v) {
  return v.find('\0') == std::string_view::npos && pg_memory_text::valid_utf8(v);
}

// Refuses what is_text() refuses as bad input (kInvalidArgument), instead of
// failing inside the transaction (kInternal) or storing it cut short.
inline void require_text(std::string_view what, std::string_view v) {
  if (!is_text(v)) {
    throw StoreError(ErrorCode::kInvalidArgument,
                     std::string(what) + " must be UTF-8 text without NUL bytes");
  }
}

// The caller of a lease call: caps::kLease, an agent name, and the fields a
// lease decision writes as text PostgreSQL can hold.
inline void validate_lease_principal(const Principal& who) {
  lease_rules::check_principal(who);
  require_text("the agent name", who.agent);
  require_text("the project", who.project);
  require_text("the session id", who.session_id);
  if (who.anchor) require_text("the agent's product", who.anchor->product);
}

// Every row of `r`, selected by pg_store_detail::kLeaseColumns.
inline std::vector<LeaseInfo> read_leases(const pg::Result& r) {
  std::vector<LeaseInfo> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(pg_store_detail::read_lease(r, i));
  return out;
}

// The hook's suspension markers (pg_store_agents_marker.cpp). The hook's
// fast check reads the marker under the state directory instead of opening
// the store; a node can write only its own machine's.
//
// Writes the marker of `agent` of `project` under `state_dir` (the file
// suspended_reason() reads; atomically, by rename), or nothing when
// state_dir is empty. Returns the error, if any.
std::error_code write_suspension_marker(const std::filesystem::path& state_dir,
                                        std::string_view project, std::string_view agent,
                                        std::string_view reason);
// Removes that marker, if there is one (nothing when state_dir is empty).
// For an agent the store says is not suspended: call it inside a write job
// that saw the agent active, under the project's lock, so that a suspension
// committed later writes its marker after this unlink (a fresh marker is
// never removed).
void drop_stale_marker(const std::filesystem::path& state_dir, std::string_view project,
                       std::string_view agent);

}  // namespace keel::state::pg_lease_util

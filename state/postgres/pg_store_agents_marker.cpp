// keel/state/postgres/pg_store_agents_marker.cpp — the hook's suspension
// markers on a PostgreSQL store (declared in pg_store_leases_util.h).
//
// On SQLite the marker is written by suspend_agent and removed by
// resume_agent, in the one state directory every keel process of the
// machine shares. On PostgreSQL the nodes of one store run on several
// machines, each with its own state directory, and a node can write only its
// own: the node that suspends writes its marker; a node that refuses a
// suspended agent's call (acquire, heartbeat, registration) writes its own;
// a node that sees the agent active at a heartbeat or registration drops a
// stale one (left by a suspension resumed through another node).
#include <cerrno>
#include <cstdio>
#include <string>

#include "crypto/random.h"
#include "state/store_common.h"
#include "state/postgres/pg_store_leases_util.h"

namespace keel::state::pg_lease_util {
namespace fs = std::filesystem;

namespace {

fs::path marker_path(const fs::path& state_dir, std::string_view project, std::string_view agent) {
  return store_common::suspension_marker_path(state_dir, project, agent);
}

}  // namespace

std::error_code write_suspension_marker(const fs::path& state_dir, std::string_view project,
                                        std::string_view agent, std::string_view reason) {
  std::error_code ec;
  if (state_dir.empty()) return ec;
  const fs::path marker = marker_path(state_dir, project, agent);
  fs::create_directories(marker.parent_path(), ec);
  // A name of its own: another thread (or keel process) may write the same
  // marker at once.
  const fs::path tmp = marker.string() + "." + crypto::random_hex(8) + ".tmp";
  if (FILE* f = std::fopen(tmp.c_str(), "wb")) {
    const bool ok = std::fwrite(reason.data(), 1, reason.size(), f) == reason.size();
    if (std::fclose(f) == 0 && ok) {
      fs::rename(tmp, marker, ec);
    } else {
      ec = std::make_error_code(std::errc::io_error);
    }
    if (ec) {
      std::error_code ignored;
      fs::remove(tmp, ignored);
    }
  } else {
    ec = std::error_code(errno, std::generic_category());
  }
  return ec;
}

void drop_stale_marker(const fs::path& state_dir, std::string_view project,
                       std::string_view agent) {
  if (state_dir.empty()) return;
  std::error_code ec;
  fs::remove(marker_path(state_dir, project, agent), ec);
}

}  // namespace keel::state::pg_lease_util

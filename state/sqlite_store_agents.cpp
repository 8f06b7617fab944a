// keel/state/sqlite_store_agents.cpp — the agent registry and agent liveness:
// register / list / scavenge / heartbeat / adopt / suspend / resume.
//
// Invariant: a lease is freed for a dead holder only when the holder's row
// carries an anchor on this host (ProcessTable::host_key) and the table says
// that process is gone (kDead: no such pid, another start time, a zombie).
// An agent without anchor, of another host, or whose process runs keeps its
// holds; they end by release, TTL or a human.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <system_error>

#include "state/agent_rules.h"
#include "state/store_common.h"
#include "state/enum_names.h"
#include "state/journal.h"
#include "state/lease_name.h"
#include "state/sqlite_store.h"

namespace keel::state {
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace sqlite_store_detail;
using agent_rules::throw_no_such_agent;
using agent_rules::validate_agent_name;

namespace {

constexpr std::string_view kAgentColumns =
    "name, project, product, host, host_key, pid, start_time, session_id, client, started_at,"
    " last_seen, status, reason";

AgentInfo read_agent(const sql::Statement& q) {
  // kAgentColumns lists AgentInfo's fields in their declaration order, up to
  // the reason, which counts only while the agent is suspended.
  const AgentStatus status = agent_rules::parse_status(q.text(11));
  return AgentInfo{q.text(0),  q.text(1),  q.text(2),  q.text(3),  q.text(4),
                   q.int64(5), q.int64(6), q.text(7),  q.text(8),  q.int64(9),
                   q.int64(10), status,
                   status == AgentStatus::kSuspended ? q.text(12) : std::string(),
                   {}};
}

std::optional<AgentInfo> find_agent(sqlite3* db, std::string_view project, std::string_view name) {
  return sql::select_one(db, kAgentColumns, "FROM agents WHERE project = ? AND name = ?", read_agent,
                         project, name);
}

std::vector<LeaseInfo> leases_of(sqlite3* db, std::string_view project, std::string_view holder,
                                 std::int64_t now) {
  sql::Statement q(db, "SELECT " + std::string(kLeaseColumns) +
                           " FROM leases WHERE project = ? AND holder = ? AND expires_at > ?"
                           " ORDER BY name, token");
  q.bind_all(project, holder, now);
  std::vector<LeaseInfo> out;
  while (q.step()) out.push_back(read_lease(q));
  return out;
}

ProcessAnchor anchor_of(const AgentInfo& a) { return ProcessAnchor{a.host_key, a.pid, a.start_time}; }

// Deletes every lease `holder` holds in `project` (expired ones too),
// tombstoned as released; returns them.
std::vector<LeaseInfo> drop_leases_of(sqlite3* db, std::string_view project,
                                      std::string_view holder, std::int64_t now) {
  std::vector<LeaseInfo> dropped;
  {
    sql::Statement q(db, "SELECT " + std::string(kLeaseColumns) +
                             " FROM leases WHERE project = ? AND holder = ? ORDER BY name, token");
    q.bind_all(project, holder);
    while (q.step()) dropped.push_back(read_lease(q));
  }
  for (const LeaseInfo& l : dropped) tombstone_lease(db, project, l, "released", now);
  return dropped;
}

fs::path marker_path(const fs::path& state_dir, std::string_view project, std::string_view agent) {
  return store_common::suspension_marker_path(state_dir, project, agent);
}

}  // namespace

std::string_view to_string(AgentStatus status) {
  static constexpr std::array<std::string_view, 3> kNames{"active", "suspended", "gone"};
  static_assert(static_cast<std::size_t>(AgentStatus::kGone) + 1 == kNames.size());
  return enum_name(status, kNames, "active");
}

std::optional<std::string> suspended_reason(const fs::path& state_dir, std::string_view project,
                                            std::string_view agent) {
  const fs::path p = marker_path(state_dir, project, agent);
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string reason;
  char buf[1024];
  ssize_t n;
  while (reason.size() < 4096 && ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))) {
    if (n > 0) reason.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (reason.empty()) reason = "suspended by a human";
  return reason;
}

namespace sqlite_store_detail {

AgentCheck touch_agent(sqlite3* db, const Principal& who, const ProcessTable& table,
                       std::int64_t now) {
  AgentCheck out;
  std::optional<AgentInfo> row = find_agent(db, who.project, who.agent);
  if (row && row->status == AgentStatus::kSuspended) {
    out.suspended = true;
    out.reason = row->suspend_reason;
    return out;
  }
  if (!who.anchor) return out;
  const AgentAnchor& a = *who.anchor;
  if (row && row->status == AgentStatus::kActive && row->host_key == a.process.host &&
      row->pid == a.process.pid && row->start_time == a.process.start_time) {
    return out;  // known, same anchor: nothing to write
  }
  sql::Statement(db,
                 "INSERT INTO agents(project, name, product, host, host_key, pid, start_time,"
                 " session_id, client, started_at, last_seen, status)"
                 " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,'',?9,?9,'active')"
                 " ON CONFLICT(project, name) DO UPDATE SET product = ?3, host = ?4,"
                 " host_key = ?5, pid = ?6, start_time = ?7, last_seen = ?9, status = 'active',"
                 " session_id = CASE WHEN ?8 = '' THEN session_id ELSE ?8 END")
      .bind_all(who.project, who.agent, a.product, table.host_name(), a.process.host,
                a.process.pid, a.process.start_time, who.session_id, now)
      .run();
  if (!row) {
    const json::object payload = agent_rules::start_payload(
        a.product, table.host_name(), a.process.pid, who.session_id, "");
    append_record(db, now, who.project, who.agent, ops::kAgentStart, who.agent,
                  json::serialize(payload));
  }
  return out;
}

std::optional<ScavengedAgent> scavenge_if_dead(sqlite3* db, std::string_view project,
                                               std::string_view holder, const ProcessTable& table,
                                               std::int64_t now) {
  std::optional<AgentInfo> row = find_agent(db, project, holder);
  if (!row || row->status == AgentStatus::kGone || row->host_key.empty()) return std::nullopt;
  if (table.liveness(anchor_of(*row)) != Liveness::kDead) return std::nullopt;
  std::vector<LeaseInfo> dropped = drop_leases_of(db, project, holder, now);
  sql::Statement(db, "UPDATE agents SET status = 'gone' WHERE project = ? AND name = ?")
      .bind_all(project, holder)
      .run();
  ScavengedAgent s{row->name, row->pid, row->host, {}};
  for (const LeaseInfo& l : dropped) s.names.push_back(l.name);
  if (dropped.empty()) return s;  // nothing held: marked gone, nothing to journal
  const json::object payload = agent_rules::scavenge_payload(*row, dropped);
  append_record(db, now, project, holder, ops::kScavenge, holder, json::serialize(payload));
  return s;
}

}  // namespace sqlite_store_detail

AgentInfo SqliteStore::register_agent(const Principal& who, const AgentRegistration& r) {
  validate_agent_name(who.agent);
  enum class Status { kOk, kSuspended } status = Status::kOk;
  std::string reason;
  AgentInfo info;
  writer_->submit([&](sqlite3* db) {
    status = Status::kOk;
    const std::int64_t t = now();
    std::optional<AgentInfo> row = find_agent(db, who.project, who.agent);
    if (row && row->status == AgentStatus::kSuspended) {
      status = Status::kSuspended;
      reason = row->suspend_reason;
      return;
    }
    if (!who.session_id.empty()) {
      // A session id names one agent: a resumed session re-binds to this one.
      sql::Statement(db,
                     "UPDATE agents SET session_id = '' WHERE project = ? AND session_id = ?"
                     " AND name != ?")
          .bind_all(who.project, who.session_id, who.agent)
          .run();
    }
    const AgentAnchor none;
    const AgentAnchor& a = who.anchor ? *who.anchor : none;
    const std::string host = who.anchor ? processes_->host_name() : std::string();
    if (!row) {
      sql::Statement(db,
                     "INSERT INTO agents(project, name, product, host, host_key, pid, start_time,"
                     " session_id, client, started_at, last_seen, status)"
                     " VALUES(?,?,?,?,?,?,?,?,?,?,?,'active')")
          .bind_all(who.project, who.agent, a.product, host, a.process.host, a.process.pid,
                    a.process.start_time, who.session_id, r.client, t, t)
          .run();
      const json::object payload =
          agent_rules::start_payload(a.product, host, a.process.pid, who.session_id, r.client);
      append_record(db, t, who.project, who.agent, ops::kAgentStart, who.agent,
                    json::serialize(payload));
    } else {
      // Without an anchor the row keeps the one it had (a hook over HTTP, say,
      // speaks for an agent whose MCP server anchored it).
      sql::Statement(db,
                     "UPDATE agents SET last_seen = ?3, status = 'active',"
                     " session_id = CASE WHEN ?4 = '' THEN session_id ELSE ?4 END,"
                     " client = CASE WHEN ?5 = '' THEN client ELSE ?5 END,"
                     " product = CASE WHEN ?6 THEN ?7 ELSE product END,"
                     " host = CASE WHEN ?6 THEN ?8 ELSE host END,"
                     " host_key = CASE WHEN ?6 THEN ?9 ELSE host_key END,"
                     " pid = CASE WHEN ?6 THEN ?10 ELSE pid END,"
                     " start_time = CASE WHEN ?6 THEN ?11 ELSE start_time END"
                     " WHERE project = ?1 AND name = ?2")
          .bind_all(who.project, who.agent, t, who.session_id, r.client, who.anchor ? 1 : 0,
                    a.product, host, a.process.host, a.process.pid, a.process.start_time)
          .run();
    }
    info = *find_agent(db, who.project, who.agent);
    for (const LeaseInfo& l : leases_of(db, who.project, who.agent, t)) info.leases.push_back(l.name);
  });
  if (status == Status::kSuspended) {
    agent_rules::throw_suspended(who.agent, reason);
  }
  return info;
}

std::vector<AgentInfo> SqliteStore::list_agents(const Principal& who, bool include_gone) {
  ReadConnection conn = read_connection();
  const std::int64_t t = now();
  std::vector<AgentInfo> agents;
  {
    sql::Statement q(conn.get(), "SELECT " + std::string(kAgentColumns) +
                                     " FROM agents WHERE project = ? ORDER BY last_seen DESC, name");
    q.bind(1, who.project);
    while (q.step()) agents.push_back(read_agent(q));
  }
  std::vector<AgentInfo> out;
  for (AgentInfo& a : agents) {
    if (a.status == AgentStatus::kActive && !a.host_key.empty() &&
        processes_->liveness(anchor_of(a)) == Liveness::kDead) {
      a.status = AgentStatus::kGone;
    }
    for (const LeaseInfo& l : leases_of(conn.get(), who.project, a.name, t)) a.leases.push_back(l.name);
    if (a.status == AgentStatus::kGone && !include_gone && a.leases.empty()) continue;
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<ScavengedAgent> SqliteStore::scavenge_dead_agents(const Principal& who,
                                                              std::optional<std::string> holder) {
  // Read first: only a death costs a write transaction.
  std::vector<std::string> dead;
  {
    ReadConnection conn = read_connection();
    sql::Statement q(conn.get(),
                     "SELECT " + std::string(kAgentColumns) +
                         " FROM agents WHERE project = ?1 AND host_key = ?2 AND status != 'gone'"
                         " AND (?3 IS NULL OR name = ?3)"
                         " AND EXISTS (SELECT 1 FROM leases l WHERE l.project = agents.project"
                         " AND l.holder = agents.name)");
    q.bind_all(who.project, processes_->host_key(), holder);
    while (q.step()) {
      AgentInfo a = read_agent(q);
      if (processes_->liveness(anchor_of(a)) == Liveness::kDead) dead.push_back(a.name);
    }
  }
  if (dead.empty()) return {};
  std::vector<ScavengedAgent> out;
  writer_->submit([&](sqlite3* db) {
    out.clear();
    const std::int64_t t = now();
    for (const std::string& name : dead) {
      if (auto s = scavenge_if_dead(db, who.project, name, *processes_, t); s && !s->names.empty()) {
        out.push_back(std::move(*s));
      }
    }
  });
  if (!out.empty()) notify_lease_change();
  return out;
}

HeartbeatResult SqliteStore::heartbeat(const Principal& who) {
  require(who, caps::kLease);
  validate_agent_name(who.agent);
  HeartbeatResult out;
  std::string suspended;
  writer_->submit([&](sqlite3* db) {
    out = HeartbeatResult{};
    suspended.clear();
    const std::int64_t t = now();
    reap_expired_leases(db, who.project, t);
    if (std::optional<AgentInfo> row = find_agent(db, who.project, who.agent);
        row && row->status == AgentStatus::kSuspended) {
      suspended = row->suspend_reason;
      return;
    }
    out.at_ms = t;
    for (LeaseInfo l : leases_of(db, who.project, who.agent, t)) {
      l.expires_at_ms = t + l.ttl_ms;
      sql::Statement(db, "UPDATE leases SET expires_at = ? WHERE lease_id = ?")
          .bind_all(l.expires_at_ms, l.lease_id)
          .run();
      out.renewed.push_back(std::move(l));
    }
    sql::Statement(db, "UPDATE agents SET last_seen = ? WHERE project = ? AND name = ?")
        .bind_all(t, who.project, who.agent)
        .run();
    append_record(db, t, who.project, who.agent, ops::kHeartbeat, who.agent,
                  json::serialize(agent_rules::heartbeat_payload(out.renewed)));
  });
  if (!suspended.empty()) {
    agent_rules::throw_suspended(who.agent, suspended);
  }
  return out;
}

LeaseInfo SqliteStore::adopt_lease(const Principal& who, std::string_view raw_name,
                                   std::string_view lease_id, std::string_view to) {
  require(who, caps::kLeaseForce);
  const LeaseName name = LeaseName::parse(raw_name);
  validate_agent_name(to);
  using Status = agent_rules::AdoptStatus;
  Status status = Status::kOk;
  LeaseInfo adopted;
  writer_->submit([&](sqlite3* db) {
    status = Status::kOk;
    const std::int64_t t = now();
    reap_expired_leases(db, who.project, t);
    std::vector<LeaseInfo> candidates;
    {
      sql::Statement q(db, "SELECT " + std::string(kLeaseColumns) +
                               " FROM leases WHERE project = ? AND name = ? AND expires_at > ?"
                               " ORDER BY token");
      q.bind_all(who.project, name.str(), t);
      while (q.step()) {
        LeaseInfo l = read_lease(q);
        if (lease_id.empty() || l.lease_id == lease_id) candidates.push_back(std::move(l));
      }
    }
    if (candidates.empty()) {
      status = Status::kNoLease;
      return;
    }
    if (candidates.size() > 1) {
      status = Status::kAmbiguous;
      return;
    }
    std::optional<AgentInfo> target = find_agent(db, who.project, to);
    if (!target) {
      status = Status::kNoAgent;
      return;
    }
    if (target->status == AgentStatus::kSuspended) {
      status = Status::kSuspended;
      return;
    }
    LeaseInfo l = candidates.front();
    if (l.holder == to) {
      status = Status::kSame;
      return;
    }
    std::int64_t token = 0;
    {
      sql::Statement q(db, "SELECT value FROM meta WHERE key = 'next_token'");
      if (!q.step()) throw StoreError(ErrorCode::kInternal, "next_token missing from meta");
      token = q.int64(0);
    }
    sql::Statement(db, "UPDATE meta SET value = ? WHERE key = 'next_token'").bind(1, token + 1).run();
    const json::object payload = agent_rules::adopt(l, to, token, t);
    sql::Statement(db,
                   "UPDATE leases SET holder = ?, token = ?, acquired_at = ?, expires_at = ?"
                   " WHERE lease_id = ?")
        .bind_all(l.holder, l.token, l.acquired_at_ms, l.expires_at_ms, l.lease_id)
        .run();
    append_record(db, t, who.project, who.agent, ops::kAdopt, l.name, json::serialize(payload));
    adopted = l;
  });
  if (status != Status::kOk) agent_rules::throw_adopt_refusal(status, name.str(), lease_id, to);
  notify_lease_change();
  return adopted;
}

AgentInfo SqliteStore::suspend_agent(const Principal& who, std::string_view agent,
                                     std::string_view reason) {
  require(who, caps::kAgentAdmin);
  validate_agent_name(agent);
  agent_rules::validate_suspend_reason(reason);
  std::optional<AgentInfo> info;
  writer_->submit([&](sqlite3* db) {
    const std::int64_t t = now();
    info = find_agent(db, who.project, agent);
    if (!info) return;
    std::vector<LeaseInfo> released = drop_leases_of(db, who.project, agent, t);
    sql::Statement(db,
                   "UPDATE agents SET status = 'suspended', reason = ? WHERE project = ? AND name = ?")
        .bind_all(reason, who.project, agent)
        .run();
    const json::object payload = agent_rules::suspend_payload(agent, reason, released);
    append_record(db, t, who.project, who.agent, ops::kSuspend, agent, json::serialize(payload));
    info = find_agent(db, who.project, agent);
  });
  if (!info) throw_no_such_agent(agent);
  // The hooks read this marker instead of the store (state_dir/agents/).
  const fs::path marker = marker_path(options_.dir, who.project, agent);
  std::error_code ec;
  fs::create_directories(marker.parent_path(), ec);
  const fs::path tmp = marker.string() + ".tmp";
  if (FILE* f = std::fopen(tmp.c_str(), "wb")) {
    const bool ok = std::fwrite(reason.data(), 1, reason.size(), f) == reason.size();
    if (std::fclose(f) == 0 && ok) fs::rename(tmp, marker, ec);
  } else {
    ec = std::error_code(errno, std::generic_category());
  }
  if (ec) {
    throw StoreError(ErrorCode::kInternal, "agent " + std::string(agent) +
                                               " is suspended in the store, but its hook marker " +
                                               marker.string() + " could not be written: " +
                                               ec.message());
  }
  notify_lease_change();
  return *info;
}

AgentInfo SqliteStore::resume_agent(const Principal& who, std::string_view agent) {
  require(who, caps::kAgentAdmin);
  validate_agent_name(agent);
  std::optional<AgentInfo> info;
  writer_->submit([&](sqlite3* db) {
    const std::int64_t t = now();
    info = find_agent(db, who.project, agent);
    if (!info) return;
    if (info->status == AgentStatus::kSuspended) {
      sql::Statement(db,
                     "UPDATE agents SET status = 'active', reason = '' WHERE project = ? AND name = ?")
          .bind_all(who.project, agent)
          .run();
      append_record(db, t, who.project, who.agent, ops::kResume, agent,
                    json::serialize(json::object{{"agent", agent}}));
    }
    info = find_agent(db, who.project, agent);
  });
  if (!info) throw_no_such_agent(agent);
  std::error_code ec;
  fs::remove(marker_path(options_.dir, who.project, agent), ec);
  return *info;
}

}  // namespace keel::state

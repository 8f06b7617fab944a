// keel/state/postgres/pg_store_agents.cpp — PostgreSQL: the agent registry
// and agent liveness: register / list / scavenge / heartbeat / adopt /
// suspend / resume. A port of sqlite_store_agents.cpp: same decisions, same
// journal records, same errors.
//
// Invariant (as on SQLite): a lease is freed for a dead holder only when the
// holder's row carries an anchor on this host (ProcessTable::host_key) and
// the table says that process is gone. With nodes on several machines each
// node frees only the holds of its own host's dead agents; another host's
// agent keeps its holds until that host's keel sees it gone, or its TTL.
#include <algorithm>
#include <map>

#include "state/journal.h"
#include "state/lease_name.h"
#include "state/postgres/pg_schema.h"
#include "state/agent_rules.h"
#include "state/postgres/pg_store.h"
#include "state/postgres/pg_store_leases_util.h"

namespace keel::state {
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace pg_store_detail;
using agent_rules::throw_no_such_agent;
using namespace pg_lease_util;

// The agent registry: the same columns as SQLite's (state/schema.cpp).
// host_key/pid/start_time anchor the agent on its process
// (state/process_table.h); 0/'' without one. Names order bytewise (COLLATE
// "C"), as SQLite's BINARY, whatever the database's locale.
const std::string_view pg_schema::kAgentTablesV1 = R"sql(
CREATE TABLE agents(
  project     TEXT NOT NULL,
  name        TEXT COLLATE "C" NOT NULL,
  product     TEXT NOT NULL DEFAULT '',
  host        TEXT NOT NULL DEFAULT '',
  host_key    TEXT NOT NULL DEFAULT '',
  pid         BIGINT NOT NULL DEFAULT 0,
  start_time  BIGINT NOT NULL DEFAULT 0,
  session_id  TEXT NOT NULL DEFAULT '',
  client      TEXT NOT NULL DEFAULT '',
  started_at  BIGINT NOT NULL,
  last_seen   BIGINT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'active',  -- 'active' | 'suspended' | 'gone'
  reason      TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(project, name)
);
CREATE INDEX agents_by_host ON agents(project, host_key, status);
)sql";

namespace {

constexpr std::string_view kAgentColumns =
    "name, project, product, host, host_key, pid, start_time, session_id, client, started_at,"
    " last_seen, status, reason";

AgentInfo read_agent(const pg::Result& r, int row) {
  // kAgentColumns lists AgentInfo's fields in their declaration order, up to
  // the reason, which counts only while the agent is suspended.
  const AgentStatus status = agent_rules::parse_status(r.text(row, 11));
  return AgentInfo{r.text(row, 0),   r.text(row, 1),  r.text(row, 2),  r.text(row, 3),
                   r.text(row, 4),   r.int64(row, 5), r.int64(row, 6), r.text(row, 7),
                   r.text(row, 8),   r.int64(row, 9), r.int64(row, 10), status,
                   status == AgentStatus::kSuspended ? r.text(row, 12) : std::string(),
                   {}};
}

std::optional<AgentInfo> agent_from(const pg::Result& r) {
  if (r.rows() == 0) return std::nullopt;
  return read_agent(r, 0);
}

std::optional<AgentInfo> find_agent(pg::Connection& c, std::string_view project,
                                    std::string_view name) {
  const pg::Connection::Statement st = pg_store_detail::find_agent_statement(project, name);
  return agent_from(c.exec_prepared(st.name, st.sql, st.params));
}


std::vector<LeaseInfo> leases_of(pg::Connection& c, std::string_view project,
                                 std::string_view holder, std::int64_t now) {
  static const std::string sql = "SELECT " + std::string(kLeaseColumns) +
                                 " FROM leases WHERE project = $1 AND holder = $2"
                                 " AND expires_at > $3 ORDER BY name, token";
  return read_leases(c.exec_prepared("agent_leases_of", sql, {project, holder, now}));
}

ProcessAnchor anchor_of(const AgentInfo& a) { return ProcessAnchor{a.host_key, a.pid, a.start_time}; }

// Deletes every lease `holder` holds in w.project (expired ones too),
// tombstoned as released; returns them.
std::vector<LeaseInfo> drop_leases_of(PgStore::Write& w, std::string_view holder) {
  static const std::string sql = "SELECT " + std::string(kLeaseColumns) +
                                 " FROM leases WHERE project = $1 AND holder = $2"
                                 " ORDER BY name, token";
  std::vector<LeaseInfo> dropped =
      read_leases(w.c.exec_prepared("agent_all_leases_of", sql, {w.project, holder}));
  for (const LeaseInfo& l : dropped) tombstone_lease(w, l, "released");
  return dropped;
}

void validate_agent_name(std::string_view agent) {
  agent_rules::validate_agent_name(agent);
  require_text("an agent name", agent);
}

// The caller's own fields that the registry writes.
void validate_caller(const Principal& who) {
  validate_agent_name(who.agent);
  require_text("the project", who.project);
  require_text("the session id", who.session_id);
  if (who.anchor) require_text("the agent's product", who.anchor->product);
}

}  // namespace

// ------------------------------------------------------------------ helpers

namespace pg_store_detail {

pg::Connection::Statement find_agent_statement(std::string_view project, std::string_view name) {
  static const std::string sql =
      "SELECT " + std::string(kAgentColumns) + " FROM agents WHERE project = $1 AND name = $2";
  return {"agent_find", sql, {project, name}};
}

AgentCheck touch_agent(PgStore::Write& w, const Principal& who, const ProcessTable& table) {
  const pg::Connection::Statement st = find_agent_statement(w.project, who.agent);
  return touch_agent(w, who, table, w.c.exec_prepared(st.name, st.sql, st.params));
}

AgentCheck touch_agent(PgStore::Write& w, const Principal& who, const ProcessTable& table,
                       const pg::Result& found) {
  AgentCheck out;
  std::optional<AgentInfo> row = agent_from(found);
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
  w.c.exec_prepared("agent_touch",
                    "INSERT INTO agents(project, name, product, host, host_key, pid, start_time,"
                    " session_id, client, started_at, last_seen, status)"
                    " VALUES($1, $2, $3, $4, $5, $6, $7, $8::text, '', $9, $9, 'active')"
                    " ON CONFLICT (project, name) DO UPDATE SET product = $3, host = $4,"
                    " host_key = $5, pid = $6, start_time = $7, last_seen = $9,"
                    " status = 'active',"
                    " session_id = CASE WHEN $8::text = '' THEN agents.session_id ELSE $8::text END",
                    {w.project, who.agent, a.product, table.host_name(), a.process.host,
                     a.process.pid, a.process.start_time, who.session_id, w.now});
  if (!row) {
    const json::object payload = agent_rules::start_payload(
        a.product, table.host_name(), a.process.pid, who.session_id, "");
    w.append(who.agent, ops::kAgentStart, who.agent, json::serialize(payload));
  }
  return out;
}

std::optional<ScavengedAgent> scavenge_if_dead(PgStore::Write& w, std::string_view holder,
                                               const ProcessTable& table) {
  std::optional<AgentInfo> row = find_agent(w.c, w.project, holder);
  if (!row || row->status == AgentStatus::kGone || row->host_key.empty()) return std::nullopt;
  if (table.liveness(anchor_of(*row)) != Liveness::kDead) return std::nullopt;
  std::vector<LeaseInfo> dropped = drop_leases_of(w, holder);
  w.c.exec_prepared("agent_gone",
                    "UPDATE agents SET status = 'gone' WHERE project = $1 AND name = $2",
                    {w.project, holder});
  ScavengedAgent s{row->name, row->pid, row->host, {}};
  for (const LeaseInfo& l : dropped) s.names.push_back(l.name);
  if (dropped.empty()) return s;  // nothing held: marked gone, nothing to journal
  const json::object payload = agent_rules::scavenge_payload(*row, dropped);
  w.append(holder, ops::kScavenge, holder, json::serialize(payload));
  return s;
}

}  // namespace pg_store_detail

// ----------------------------------------------------------------- register

AgentInfo PgStore::register_agent(const Principal& who, const AgentRegistration& r) {
  validate_caller(who);
  require_text("the client", r.client);
  enum class Status { kOk, kSuspended } status = Status::kOk;
  std::string reason;
  AgentInfo info;
  write(who.project, [&](Write& w) {
    status = Status::kOk;
    info = AgentInfo{};
    const std::int64_t t = w.now;
    std::optional<AgentInfo> row = find_agent(w.c, w.project, who.agent);
    if (row && row->status == AgentStatus::kSuspended) {
      status = Status::kSuspended;
      reason = row->suspend_reason;
      return;
    }
    drop_stale_marker(options_.dir, who.project, who.agent);
    if (!who.session_id.empty()) {
      // A session id names one agent: a resumed session re-binds to this one.
      w.c.exec_prepared("agent_unbind_session",
                        "UPDATE agents SET session_id = '' WHERE project = $1"
                        " AND session_id = $2 AND name <> $3",
                        {w.project, who.session_id, who.agent});
    }
    const AgentAnchor none;
    const AgentAnchor& a = who.anchor ? *who.anchor : none;
    const std::string host = who.anchor ? processes_->host_name() : std::string();
    if (!row) {
      w.c.exec_prepared("agent_insert",
                        "INSERT INTO agents(project, name, product, host, host_key, pid,"
                        " start_time, session_id, client, started_at, last_seen, status)"
                        " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active')",
                        {w.project, who.agent, a.product, host, a.process.host, a.process.pid,
                         a.process.start_time, who.session_id, r.client, t, t});
      const json::object payload =
          agent_rules::start_payload(a.product, host, a.process.pid, who.session_id, r.client);
      w.append(who.agent, ops::kAgentStart, who.agent, json::serialize(payload));
    } else {
      // Without an anchor the row keeps the one it had (a hook over HTTP, say,
      // speaks for an agent whose MCP server anchored it).
      w.c.exec_prepared("agent_reregister",
                        "UPDATE agents SET last_seen = $3, status = 'active',"
                        " session_id = CASE WHEN $4::text = '' THEN session_id ELSE $4::text END,"
                        " client = CASE WHEN $5::text = '' THEN client ELSE $5::text END,"
                        " product = CASE WHEN $6::boolean THEN $7::text ELSE product END,"
                        " host = CASE WHEN $6::boolean THEN $8::text ELSE host END,"
                        " host_key = CASE WHEN $6::boolean THEN $9::text ELSE host_key END,"
                        " pid = CASE WHEN $6::boolean THEN $10::bigint ELSE pid END,"
                        " start_time = CASE WHEN $6::boolean THEN $11::bigint ELSE start_time END"
                        " WHERE project = $1 AND name = $2",
                        {w.project, who.agent, t, who.session_id, r.client, who.anchor.has_value(),
                         a.product, host, a.process.host, a.process.pid, a.process.start_time});
    }
    info = *find_agent(w.c, w.project, who.agent);
    for (const LeaseInfo& l : leases_of(w.c, w.project, who.agent, t)) {
      info.leases.push_back(l.name);
    }
  });
  if (status == Status::kSuspended) {
    // Best effort: this machine's hook denies at once from now on.
    (void)write_suspension_marker(options_.dir, who.project, who.agent, reason);
    agent_rules::throw_suspended(who.agent, reason);
  }
  return info;
}

// --------------------------------------------------------------------- list

std::vector<AgentInfo> PgStore::list_agents(const Principal& who, bool include_gone) {
  if (!is_text(who.project)) return {};  // no such project can be stored
  struct Snapshot {
    std::vector<AgentInfo> agents;
    std::map<std::string, std::vector<std::string>> leases;  // holder → live lease names
  };
  // One snapshot for the agents and their leases (SQLite reads them with one
  // connection, statement by statement; one query for every holder's leases
  // here instead of one per agent saves the round trips).
  Snapshot snap = read(
      [&](pg::Connection& c) {
        Snapshot s;
        const std::int64_t t = now(c);
        static const std::string agents_sql = "SELECT " + std::string(kAgentColumns) +
                                              " FROM agents WHERE project = $1"
                                              " ORDER BY last_seen DESC, name";
        const pg::Result a = c.exec_prepared("agent_list", agents_sql, {who.project});
        for (int i = 0; i < a.rows(); ++i) s.agents.push_back(read_agent(a, i));
        const pg::Result l = c.exec_prepared(
            "agent_list_leases",
            "SELECT holder, name FROM leases WHERE project = $1 AND expires_at > $2"
            " ORDER BY name, token",
            {who.project, t});
        for (int i = 0; i < l.rows(); ++i) s.leases[l.text(i, 0)].push_back(l.text(i, 1));
        return s;
      },
      /*snapshot=*/true);
  std::vector<AgentInfo> out;
  for (AgentInfo& a : snap.agents) {
    if (a.status == AgentStatus::kActive && !a.host_key.empty() &&
        processes_->liveness(anchor_of(a)) == Liveness::kDead) {
      a.status = AgentStatus::kGone;
    }
    if (auto it = snap.leases.find(a.name); it != snap.leases.end()) a.leases = it->second;
    if (a.status == AgentStatus::kGone && !include_gone && a.leases.empty()) continue;
    out.push_back(std::move(a));
  }
  return out;
}

// ----------------------------------------------------------------- scavenge

std::vector<ScavengedAgent> PgStore::scavenge_dead_agents(const Principal& who,
                                                          std::optional<std::string> holder) {
  // No such project or holder can be stored.
  if (!is_text(who.project) || (holder && !is_text(*holder))) return {};
  // Read first: only a death costs a write transaction (and the project's
  // head lock).
  std::vector<std::string> dead = read([&](pg::Connection& c) {
    static const std::string sql =
        "SELECT " + std::string(kAgentColumns) +
        " FROM agents WHERE project = $1 AND host_key = $2 AND status <> 'gone'"
        " AND ($3::text IS NULL OR name = $3::text)"
        " AND EXISTS (SELECT 1 FROM leases l WHERE l.project = agents.project"
        " AND l.holder = agents.name)";
    const pg::Result r =
        c.exec_prepared("agent_sweep_candidates", sql, {who.project, processes_->host_key(), holder});
    std::vector<std::string> names;
    for (int i = 0; i < r.rows(); ++i) {
      AgentInfo a = read_agent(r, i);
      if (processes_->liveness(anchor_of(a)) == Liveness::kDead) names.push_back(a.name);
    }
    return names;
  });
  if (dead.empty()) return {};
  std::vector<ScavengedAgent> out;
  write(who.project, [&](Write& w) {
    out.clear();
    for (const std::string& name : dead) {
      // Looked at again under the project's lock: a sweeper on another node
      // (or thread) may have freed it since the read.
      if (auto s = scavenge_if_dead(w, name, *processes_); s && !s->names.empty()) {
        out.push_back(std::move(*s));
      }
    }
  });
  return out;
}

// ---------------------------------------------------------------- heartbeat

HeartbeatResult PgStore::heartbeat(const Principal& who) {
  require(who, caps::kLease);
  validate_caller(who);
  HeartbeatResult out;
  std::string suspended;
  write(who.project, [&](Write& w) {
    out = HeartbeatResult{};
    suspended.clear();
    const std::int64_t t = w.now;
    reap_expired_leases(w);
    if (std::optional<AgentInfo> row = find_agent(w.c, w.project, who.agent);
        row && row->status == AgentStatus::kSuspended) {
      suspended = row->suspend_reason;
      return;
    }
    drop_stale_marker(options_.dir, who.project, who.agent);
    out.at_ms = t;
    // Every live lease renewed in one statement (SQLite: one per lease); the
    // same rows in the same order (name, token) as SQLite's.
    static const std::string renew_sql =
        "UPDATE leases SET expires_at = $3 + ttl_ms WHERE project = $1 AND holder = $2"
        " AND expires_at > $3 RETURNING " +
        std::string(kLeaseColumns);
    out.renewed = read_leases(w.c.exec_prepared("agent_heartbeat_renew", renew_sql,
                                                {w.project, who.agent, t}));
    std::sort(out.renewed.begin(), out.renewed.end(), [](const LeaseInfo& x, const LeaseInfo& y) {
      return std::tie(x.name, x.token) < std::tie(y.name, y.token);
    });
    w.c.exec_prepared("agent_seen",
                      "UPDATE agents SET last_seen = $3 WHERE project = $1 AND name = $2",
                      {w.project, who.agent, t});
    w.append(who.agent, ops::kHeartbeat, who.agent,
             json::serialize(agent_rules::heartbeat_payload(out.renewed)));
  });
  if (!suspended.empty()) {
    (void)write_suspension_marker(options_.dir, who.project, who.agent, suspended);  // best effort
    agent_rules::throw_suspended(who.agent, suspended);
  }
  return out;
}

// -------------------------------------------------------------------- adopt

LeaseInfo PgStore::adopt_lease(const Principal& who, std::string_view raw_name,
                               std::string_view lease_id, std::string_view to) {
  require(who, caps::kLeaseForce);
  const LeaseName name = LeaseName::parse(raw_name);
  validate_agent_name(to);
  require_text("the lease name", name.str());
  require_text("the lease id", lease_id);
  require_text("the project", who.project);
  using Status = agent_rules::AdoptStatus;
  Status status = Status::kOk;
  LeaseInfo adopted;
  write(who.project, [&](Write& w) {
    status = Status::kOk;
    const std::int64_t t = w.now;
    reap_expired_leases(w);
    static const std::string sql = "SELECT " + std::string(kLeaseColumns) +
                                   " FROM leases WHERE project = $1 AND name = $2"
                                   " AND expires_at > $3 ORDER BY token";
    std::vector<LeaseInfo> candidates =
        read_leases(w.c.exec_prepared("agent_adopt_candidates", sql, {w.project, name.str(), t}));
    std::erase_if(candidates,
                  [&](const LeaseInfo& l) { return !lease_id.empty() && l.lease_id != lease_id; });
    if (candidates.empty()) {
      status = Status::kNoLease;
      return;
    }
    if (candidates.size() > 1) {
      status = Status::kAmbiguous;
      return;
    }
    std::optional<AgentInfo> target = find_agent(w.c, w.project, to);
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
    const json::object payload = agent_rules::adopt(l, to, w.next_token(), t);
    w.c.exec_prepared("agent_adopt",
                      "UPDATE leases SET holder = $3, token = $4, acquired_at = $5,"
                      " expires_at = $6 WHERE project = $1 AND lease_id = $2",
                      {w.project, l.lease_id, l.holder, l.token, l.acquired_at_ms,
                       l.expires_at_ms});
    w.append(who.agent, ops::kAdopt, l.name, json::serialize(payload));
    // The old holder's hold is gone (as on SQLite, waiters look again).
    w.notify("keel_lease");
    adopted = l;
  });
  if (status != Status::kOk) agent_rules::throw_adopt_refusal(status, name.str(), lease_id, to);
  return adopted;
}

// ---------------------------------------------------------- suspend, resume

AgentInfo PgStore::suspend_agent(const Principal& who, std::string_view agent,
                                 std::string_view reason) {
  require(who, caps::kAgentAdmin);
  validate_agent_name(agent);
  agent_rules::validate_suspend_reason(reason);
  require_text("the reason", reason);
  require_text("the project", who.project);
  std::optional<AgentInfo> info;
  write(who.project, [&](Write& w) {
    info = find_agent(w.c, w.project, agent);
    if (!info) return;
    std::vector<LeaseInfo> released = drop_leases_of(w, agent);
    w.c.exec_prepared("agent_suspend",
                      "UPDATE agents SET status = 'suspended', reason = $3"
                      " WHERE project = $1 AND name = $2",
                      {w.project, agent, reason});
    const json::object payload = agent_rules::suspend_payload(agent, reason, released);
    w.append(who.agent, ops::kSuspend, agent, json::serialize(payload));
    info = find_agent(w.c, w.project, agent);
  });
  if (!info) throw_no_such_agent(agent);
  // The hook's fast check reads this marker under the state directory
  // instead of opening the store. Only this machine's state directory can be
  // written here: on other machines the hook learns of the suspension from
  // the store (the agent's acquires, heartbeats and registrations are
  // refused there, and the node that refuses one writes its own marker). No
  // state directory (a node configured with a URL alone): no marker.
  if (const std::error_code ec = write_suspension_marker(options_.dir, who.project, agent, reason)) {
    throw StoreError(ErrorCode::kInternal,
                     "agent " + std::string(agent) +
                         " is suspended in the store, but its hook marker under " +
                         options_.dir.string() + " could not be written: " + ec.message());
  }
  return *info;
}

AgentInfo PgStore::resume_agent(const Principal& who, std::string_view agent) {
  require(who, caps::kAgentAdmin);
  validate_agent_name(agent);
  require_text("the project", who.project);
  std::optional<AgentInfo> info;
  write(who.project, [&](Write& w) {
    info = find_agent(w.c, w.project, agent);
    if (!info) return;
    if (info->status == AgentStatus::kSuspended) {
      w.c.exec_prepared("agent_resume",
                        "UPDATE agents SET status = 'active', reason = ''"
                        " WHERE project = $1 AND name = $2",
                        {w.project, agent});
      w.append(who.agent, ops::kResume, agent, json::serialize(json::object{{"agent", agent}}));
    }
    info = find_agent(w.c, w.project, agent);
  });
  if (!info) throw_no_such_agent(agent);
  // Only this machine's marker can go; a marker another machine wrote is
  // dropped there at the agent's next registration or heartbeat.
  drop_stale_marker(options_.dir, who.project, agent);
  return *info;
}

}  // namespace keel::state

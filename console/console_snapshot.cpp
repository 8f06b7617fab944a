// keel/console/console_snapshot.cpp — the console's view of the store (console_snapshot.h).
#include "console/console_snapshot.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>

#include "state/escalation_types.h"

namespace keel::console {

namespace json = boost::json;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

json::value parse_or_text(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::value(text);
  return v;
}

json::object agent_json(const state::AgentInfo& a) {
  json::array leases;
  for (const auto& l : a.leases) leases.emplace_back(l);
  json::object o{{"agent", a.name},
                 {"status", state::to_string(a.status)},
                 {"client", a.client},
                 {"host", a.host},
                 {"pid", a.pid},
                 {"last_seen_ms", a.last_seen_ms},
                 {"leases", std::move(leases)}};
  if (!a.suspend_reason.empty()) o["suspend_reason"] = a.suspend_reason;
  return o;
}

json::object lease_json(const state::LeaseInfo& l, std::int64_t now) {
  return json::object{{"name", l.name},
                      {"holder", l.holder},
                      {"mode", state::to_string(l.mode)},
                      {"token", l.token},
                      {"expires_ms", l.expires_at_ms},
                      {"ttl_left_ms", std::max<std::int64_t>(0, l.expires_at_ms - now)},
                      {"units", l.units},
                      {"group_id", l.group_id},
                      {"lease_id", l.lease_id}};
}

json::object escalation_json(const state::Escalation& e) {
  json::object o{{"id", e.id},
                 {"agent", e.agent},
                 {"reason", e.reason},
                 {"proposal", e.proposal},
                 {"context", e.context},
                 {"impact", state::to_string(e.impact)},
                 {"severity", e.severity},
                 {"created_ms", e.created_at_ms},
                 {"status", e.resolved ? "resolved" : "pending"}};
  if (e.resolved) {
    o["decision"] = e.decision ? json::value(state::to_string(*e.decision)) : json::value(nullptr);
    o["resolution"] = e.resolved_proposal;
    o["resolved_by"] = e.resolver;
    o["resolved_via"] = e.resolved_via;
    o["resolved_ms"] = e.resolved_at_ms;
  }
  return o;
}

const json::object* payload_object(const json::value& payload) { return payload.if_object(); }

std::string string_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::int64_t int_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  return 0;
}

}  // namespace

json::object journal_record_json(const state::JournalRecord& r) {
  return json::object{{"seq", r.seq},         {"ts_ms", r.ts_ms},
                      {"principal", r.principal}, {"op", r.op},
                      {"subject", r.subject}, {"payload", parse_or_text(r.payload)},
                      {"node", r.node}};
}

SnapshotSource::SnapshotSource(state::Store& store, state::Principal reader, std::int64_t verify_every_ms,
                               std::int64_t small_reverify_ms, std::int64_t journal_window)
    : store_(store),
      reader_(std::move(reader)),
      verify_every_ms_(verify_every_ms),
      small_reverify_ms_(small_reverify_ms),
      journal_window_(std::clamp<std::int64_t>(journal_window, 1, 10'000)) {}

std::int64_t SnapshotSource::head_seq() {
  state::JournalFilter f;
  f.project = reader_.project;
  f.limit = 1;
  f.newest_first = true;
  auto records = store_.journal_query(reader_, f);
  return records.empty() ? 0 : records.front().seq;
}

std::uint64_t SnapshotSource::waiters_mark() {
  const state::LeaseBoard board = store_.lease_board(reader_);
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a over "id\0name\0...\n"
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
    h = (h ^ 0) * 1099511628211ULL;
  };
  for (const state::LeaseWaiter& w : board.waiters) {
    mix(w.waiter_id);
    for (const std::string& n : w.names) mix(n);
    h = (h ^ '\n') * 1099511628211ULL;
  }
  return h;
}

json::object SnapshotSource::verify_status() {
  std::unique_lock lock(verify_mu_, std::try_to_lock);
  // Another thread verifying: its caller will have the fresh report; this one
  // takes the cached one rather than wait.
  if (!lock.owns_lock()) {
    {
      std::lock_guard cache(cache_mu_);
      if (verify_cache_) return *verify_cache_;
    }
    lock.lock();  // no report yet: wait for the first
  }
  const std::int64_t now = wall_ms();
  // Verifying reads the whole chain: at most every verify_every_ms, except that
  // a small journal that moved is verified again after small_reverify_ms (a
  // stale "0 records" next to a journal full of records reads as wrong; every
  // poll re-verifying would be a full read per change).
  constexpr std::int64_t kSmallJournal = 10'000;
  const std::int64_t head = head_seq();
  const bool stale = verify_cache_ && head != verify_head_ && now - verify_at_ms_ >= small_reverify_ms_ &&
                     verify_cache_->at("records").as_int64() < kSmallJournal;
  if (!verify_cache_ || stale || now - verify_at_ms_ >= verify_every_ms_) {
    verify_head_ = head;
    state::VerifyReport rep = store_.journal_verify(reader_);
    json::object o{{"ok", rep.ok}, {"records", rep.records}, {"checked_ms", now}};
    if (rep.first_bad) {
      o["first_bad"] = json::object{{"seq", rep.first_bad->seq},
                                    {"kind", rep.first_bad->kind},
                                    {"detail", rep.first_bad->detail}};
    } else {
      o["first_bad"] = nullptr;
    }
    std::lock_guard cache(cache_mu_);
    verify_cache_ = std::move(o);
    verify_at_ms_ = now;
  }
  return *verify_cache_;
}

json::object SnapshotSource::build() {
  const std::int64_t now = wall_ms();
  json::object snap{{"now_ms", now}, {"project", reader_.project}};

  json::array agents;
  for (const auto& a : store_.list_agents(reader_, /*include_gone=*/false)) agents.emplace_back(agent_json(a));

  state::LeaseBoard board = store_.lease_board(reader_);
  json::array leases;
  for (const auto& l : board.leases) leases.emplace_back(lease_json(l, now));
  // Holders seen without a registry entry (an agent that never registered).
  std::set<std::string> listed;
  for (const auto& a : agents) listed.insert(std::string(a.as_object().at("agent").as_string()));
  std::map<std::string, json::array> unlisted;
  for (const auto& l : board.leases) {
    if (!listed.count(l.holder)) unlisted[l.holder].emplace_back(l.name);
  }
  for (auto& [holder, names] : unlisted) {
    agents.emplace_back(json::object{{"agent", holder}, {"status", "holder"}, {"client", ""}, {"host", ""},
                                     {"pid", 0}, {"last_seen_ms", 0}, {"leases", std::move(names)}});
  }
  json::array waiters;
  for (const auto& w : board.waiters) {
    for (const auto& name : w.names) {
      waiters.emplace_back(json::object{{"name", name},
                                        {"agent", w.agent},
                                        {"mode", state::to_string(w.mode)},
                                        {"units", w.units},
                                        {"priority", w.priority},
                                        {"since_ms", w.enqueued_at_ms}});
    }
  }
  snap["agents"] = std::move(agents);
  snap["leases"] = std::move(leases);
  snap["waiters"] = std::move(waiters);

  json::array pending;
  json::array resolved;
  {
    state::EscalationListRequest req;
    req.resolved = false;
    req.limit = 100;
    for (const auto& e : store_.list_escalations(reader_, req).escalations) pending.emplace_back(escalation_json(e));
    req.resolved = true;
    req.limit = 20;
    for (const auto& e : store_.list_escalations(reader_, req).escalations) resolved.emplace_back(escalation_json(e));
  }
  snap["escalations"] = json::object{{"pending", std::move(pending)}, {"resolved", std::move(resolved)}};

  state::JournalFilter f;
  f.project = reader_.project;
  f.limit = 100;
  json::array records;
  std::int64_t head = 0;
  for (const auto& r : store_.journal_query(reader_, f)) {
    head = std::max(head, r.seq);
    records.emplace_back(journal_record_json(r));
  }
  snap["journal"] = json::object{{"head_seq", head}, {"records", std::move(records)}};
  snap["verify"] = verify_status();

  // Fanout runs in progress: a FORK without its JOIN.
  json::array fanout;
  {
    state::JournalFilter joins = f;
    joins.op = "JOIN";
    joins.limit = 500;
    std::set<std::string> joined;
    for (const auto& r : store_.journal_query(reader_, joins)) joined.insert(r.subject);
    state::JournalFilter forks = f;
    forks.op = "FORK";
    forks.limit = 50;
    for (const auto& r : store_.journal_query(reader_, forks)) {
      if (joined.count(r.subject)) continue;
      json::value p = parse_or_text(r.payload);
      const json::object* o = payload_object(p);
      const std::int64_t total = o != nullptr ? int_field(*o, "branches") : 0;
      // Its counts: the newest PROGRESS record the run wrote (once a second).
      std::int64_t done = 0, failed = 0, running = total;
      state::JournalFilter pf = f;
      pf.op = "PROGRESS";
      pf.subject = r.subject;
      pf.limit = 1;
      for (const auto& pr : store_.journal_query(reader_, pf)) {
        json::value pv = parse_or_text(pr.payload);
        if (const json::object* po = payload_object(pv)) {
          done = int_field(*po, "done");
          running = int_field(*po, "running");
          if (const json::value* c = po->if_contains("counts"); c != nullptr && c->is_object()) {
            failed = int_field(c->get_object(), "failed");
          }
        }
      }
      fanout.emplace_back(json::object{{"id", o != nullptr ? string_field(*o, "run_id") : r.subject},
                                       {"agent", r.principal},
                                       {"total", total},
                                       {"done", done},
                                       {"failed", failed},
                                       {"running", running},
                                       {"max_concurrency", o != nullptr ? int_field(*o, "max_concurrency") : 0},
                                       {"started_ms", r.ts_ms}});
    }
  }
  snap["fanout"] = std::move(fanout);

  // Fanout's circuit breakers as the store keeps them between runs (by
  // provider), for readers that may see fanout.
  json::array breakers;
  if (reader_.can(state::caps::kFanout)) {
    for (const state::FanoutBreaker& b : store_.fanout_breakers(reader_)) {
      if (breakers.size() >= 50) break;
      breakers.emplace_back(json::object{{"provider", b.provider},
                                         {"state", b.state},
                                         {"consecutive_failures", b.consecutive_failures},
                                         {"opened", b.opened},
                                         {"opened_at_ms", b.opened_at_ms},
                                         {"updated_at_ms", b.updated_at_ms}});
    }
  }
  snap["fanout_breakers"] = std::move(breakers);

  // Hook decisions that said no or asked, newest first.
  json::array hooks;
  {
    state::JournalFilter hf = f;
    hf.op = "HOOK";
    hf.limit = 500;
    for (const auto& r : store_.journal_query(reader_, hf)) {
      if (hooks.size() >= 50) break;
      json::value p = parse_or_text(r.payload);
      const json::object* o = payload_object(p);
      if (o == nullptr) continue;
      const std::string outcome = string_field(*o, "outcome");
      if (outcome != "deny" && outcome != "ask") continue;
      std::string tool = string_field(*o, "tool");
      hooks.emplace_back(json::object{{"seq", r.seq},
                                      {"ts_ms", r.ts_ms},
                                      {"agent", r.principal},
                                      {"tool", tool.empty() ? r.subject : tool},
                                      {"outcome", outcome},
                                      {"rule", string_field(*o, "rule")},
                                      {"reason", string_field(*o, "reason")}});
    }
  }
  snap["hooks"] = std::move(hooks);
  return snap;
}

json::object SnapshotSource::journal_page(const JournalPageRequest& q) {
  const int limit = std::clamp(q.limit, 1, 1000);
  state::JournalFilter f;
  f.project = reader_.project;
  f.op = q.op;
  f.subject = q.subject;
  f.principal = q.agent;
  std::vector<state::JournalRecord> out;
  std::optional<std::int64_t> more_before;
  if (!q.before_seq) {
    f.limit = limit;
    out = store_.journal_query(reader_, f);
  } else {
    // The store pages forward (after_seq); walk back in windows below
    // before_seq, from the head at most (a huge before_seq starts there) and
    // at most kMaxWindows of them (a filter that matches nothing must not
    // read the whole journal in one request: the page goes on from
    // more_before_seq).
    constexpr int kMaxWindows = 20;
    f.newest_first = false;
    f.limit = static_cast<int>(journal_window_);
    std::int64_t upper = std::min(*q.before_seq, head_seq() + 1);  // exclusive
    int windows = 0;
    while (upper > 1 && static_cast<int>(out.size()) < limit) {
      if (windows++ == kMaxWindows) {
        more_before = upper;
        break;
      }
      const std::int64_t lower = std::max<std::int64_t>(0, upper - journal_window_);
      f.after_seq = lower;
      std::vector<state::JournalRecord> window;
      for (auto& r : store_.journal_query(reader_, f)) {
        if (r.seq < upper) window.push_back(std::move(r));
      }
      for (auto it = window.rbegin(); it != window.rend() && static_cast<int>(out.size()) < limit; ++it) {
        out.push_back(std::move(*it));
      }
      upper = lower + 1;
      if (lower == 0) break;
    }
  }
  json::array records;
  for (const auto& r : out) records.emplace_back(journal_record_json(r));
  json::object page{{"records", std::move(records)}};
  if (more_before) page["more_before_seq"] = *more_before;
  return page;
}

}  // namespace keel::console

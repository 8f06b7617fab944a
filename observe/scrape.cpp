// keel/observe/scrape.cpp — the scrape-time reads and the /metrics route (scrape.h).
#include "observe/scrape.h"

#include <boost/json/parse.hpp>
#include <spdlog/spdlog.h>

#include "mcp/observer.h"

namespace keel::observe {

namespace json = boost::json;

namespace {

std::string payload_string(const json::value& payload, std::string_view key,
                           std::string_view fallback) {
  if (!payload.is_object()) return std::string(fallback);
  const json::value* v = payload.get_object().if_contains(key);
  if (v == nullptr || !v->is_string()) return std::string(fallback);
  return std::string(v->get_string());
}

}  // namespace

Scraper::Scraper(std::shared_ptr<Telemetry> telemetry) : t_(std::move(telemetry)) {}

void Scraper::attach_store(state::Store& store, state::Principal who) {
  std::lock_guard lock(mu_);
  state::JournalFilter f;
  f.project = who.project;
  f.limit = 1;
  f.newest_first = true;
  std::int64_t newest = 0;
  try {
    const auto records = store.journal_query(who, f);
    if (!records.empty()) newest = records.front().seq;
  } catch (const std::exception& e) {
    spdlog::warn("metrics: reading the journal's end failed: {}", e.what());
  }
  store_ = &store;
  who_ = std::move(who);
  hook_cursor_ = newest;
  notify_cursor_ = newest;
}

void Scraper::count_journal(const std::string& op, std::int64_t& cursor) {
  int counted = 0;
  while (counted < kMaxRecordsPerScrape) {
    state::JournalFilter f;
    f.project = who_.project;
    f.op = op;
    f.after_seq = cursor;
    f.limit = 1000;
    f.newest_first = false;
    const auto records = store_->journal_query(who_, f);
    for (const auto& r : records) {
      json::value payload;
      try {
        payload = json::parse(r.payload);
      } catch (const std::exception&) {
      }
      if (op == "HOOK") {
        t_->hook_decisions
            .with({payload_string(payload, "outcome", "unknown"), payload_string(payload, "rule", "")})
            .inc();
      } else if (const std::string outcome = payload_string(payload, "outcome", "");
                 outcome == "delivered" || outcome == "failed") {  // ("started": a cursor mark)
        t_->notify_deliveries
            .with({payload_string(payload, "target", r.subject), outcome})
            .inc();
      }
      cursor = r.seq;
    }
    counted += static_cast<int>(records.size());
    if (records.size() < 1000) break;
  }
}

void Scraper::read_store() {
  try {
    const state::LeaseBoard board = store_->lease_board(who_);
    t_->leases_live.with({}).set(static_cast<double>(board.leases.size()));
    t_->lease_waiters.with({}).set(static_cast<double>(board.waiters.size()));
  } catch (const std::exception& e) {
    spdlog::warn("metrics: reading the lease board failed: {}", e.what());
  }
  try {
    std::size_t pending = 0;
    state::EscalationListRequest req;
    req.resolved = false;
    req.limit = 500;
    for (int page = 0; page < 20; ++page) {  // at most 10000
      const auto res = store_->list_escalations(who_, req);
      pending += res.escalations.size();
      if (res.next_cursor.empty()) break;
      req.cursor = res.next_cursor;
    }
    t_->escalations_pending.with({}).set(static_cast<double>(pending));
  } catch (const std::exception& e) {
    spdlog::warn("metrics: reading the escalations failed: {}", e.what());
  }
  try {
    count_journal("HOOK", hook_cursor_);
    count_journal("NOTIFY", notify_cursor_);
  } catch (const std::exception& e) {
    spdlog::warn("metrics: reading the journal failed: {}", e.what());
  }
}

std::string Scraper::scrape() {
  std::lock_guard lock(mu_);
  if (store_ != nullptr) read_store();
  t_->http_sessions.with({}).set(static_cast<double>(mcp::http_sessions_open()));
  t_->read_process();
  return t_->registry.render();
}

mcp::HttpRoute metrics_route(std::shared_ptr<Scraper> scraper, std::string path) {
  return [scraper = std::move(scraper), path = std::move(path)](const mcp::HttpRouteRequest& req) {
    mcp::HttpRouteResponse res;
    if (req.path != path) {
      res.status = 404;
      res.content_type = "text/plain; charset=utf-8";
      res.body = "not found\n";
      return res;
    }
    if (req.method != "GET" && req.method != "HEAD") {
      res.status = 405;
      res.content_type = "text/plain; charset=utf-8";
      res.body = "GET only\n";
      return res;
    }
    res.content_type = std::string(kContentType);
    if (req.method == "GET") res.body = scraper->scrape();
    return res;
  };
}

}  // namespace keel::observe

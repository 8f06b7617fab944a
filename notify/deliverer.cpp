// keel/notify/deliverer.cpp — TargetDeliverer (deliverer.h).
#include "notify/deliverer.h"

#include <algorithm>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <spdlog/spdlog.h>

#include "notify/backoff.h"
#include "notify/event.h"
#include "notify/message.h"

namespace keel::notify {

namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

TargetDeliverer::TargetDeliverer(state::Store& store, const NotifyTarget& target,
                                 const NotifyConfig& config, state::Principal who,
                                 const Sender& send, DelivererOptions options)
    : store_(store),
      target_(target),
      config_(config),
      who_(std::move(who)),
      send_(send),
      options_(options),
      lease_name_("notify:" + target.name) {
  // Renewed every ttl/3 and before an attempt once due: a hold must outlive ttl/3 plus
  // one attempt (timeout_ms), so a slow receiver never lets it lapse mid-delivery.
  options_.lease_ttl_ms = std::max(options_.lease_ttl_ms, 3 * config.timeout_ms);
}

SteadyClock::time_point TargetDeliverer::next_due() const {
  if (!lease_) return next_lease_try_;
  const auto renew = renewed_at_ + std::chrono::milliseconds(options_.lease_ttl_ms / 3);
  return queue_.empty() ? renew : std::min(renew, next_attempt_);
}

bool TargetDeliverer::take_lease() {
  // Look before asking: a refused acquire would journal a REFUSE every few seconds.
  for (const auto& l : store_.list_leases(who_, lease_name_)) {
    if (l.name == lease_name_) return false;
  }
  state::AcquireRequest req;
  req.name = lease_name_;
  req.ttl_ms = options_.lease_ttl_ms;
  req.reason = "delivers the notifications of target " + target_.name;
  const state::AcquireResult r = store_.acquire_lease(who_, req);
  if (!r.granted || !r.lease) return false;
  lease_ = *r.lease;
  renewed_at_ = SteadyClock::now();
  spdlog::info("notify: {} delivers target '{}'", who_.agent, target_.name);
  return true;
}

bool TargetDeliverer::keep_lease(SteadyClock::time_point now) {
  if (!lease_) {
    if (now < next_lease_try_) return false;
    next_lease_try_ = now + options_.standby_retry;
    return take_lease();
  }
  if (now - renewed_at_ < std::chrono::milliseconds(options_.lease_ttl_ms / 3)) return true;
  try {
    lease_ = store_.renew_lease(who_, lease_name_, lease_->lease_id);
    renewed_at_ = now;
    return true;
  } catch (const state::StoreError& e) {
    if (e.code() == state::ErrorCode::kBusy || e.code() == state::ErrorCode::kInternal) throw;
    spdlog::warn("notify: lost the lease of target '{}': {}", target_.name, e.what());
    lease_.reset();
    cursor_.reset();
    queue_.clear();
    attempts_ = 0;
    next_lease_try_ = now + options_.standby_retry;
    return false;
  }
}

void TargetDeliverer::load_cursor() {
  queue_.clear();
  attempts_ = 0;
  next_attempt_ = {};
  state::JournalFilter f;
  f.project = who_.project;
  f.op = std::string(kNotifyOp);
  f.subject = lease_name_;
  f.limit = 1;
  f.newest_first = true;
  const auto last = store_.journal_query(who_, f);
  if (!last.empty()) {
    boost::system::error_code ec;
    const json::value p = json::parse(last.front().payload, ec);
    const json::value* seq = !ec && p.is_object() ? p.as_object().if_contains("event_seq") : nullptr;
    if (seq != nullptr && seq->is_int64()) {
      cursor_ = seq->as_int64();
      return;
    }
  }
  state::JournalFilter head;
  head.project = who_.project;
  head.limit = 1;
  head.newest_first = true;
  const auto newest = store_.journal_query(who_, head);
  const std::int64_t at = newest.empty() ? 0 : newest.front().seq;
  store_.journal_append(who_, kNotifyOp, lease_name_,
                        json::object{{"target", target_.name}, {"outcome", "started"},
                                     {"event_seq", at}});
  cursor_ = at;
}

void TargetDeliverer::journal(const state::JournalRecord& r, std::string_view event,
                              bool delivered, const net::HttpClientResponse& last) {
  json::object p{{"target", target_.name},
                 {"event", event},
                 {"event_seq", r.seq},
                 {"outcome", delivered ? "delivered" : "failed"},
                 {"attempts", attempts_}};
  if (last.status != 0) p["status"] = last.status;
  if (!last.error.empty()) p["error"] = last.error.substr(0, 500);
  store_.journal_append(who_, kNotifyOp, lease_name_, p);
}

void TargetDeliverer::step(const std::atomic<bool>& stopping) {
  const auto started = SteadyClock::now();
  const auto budget = std::min<std::chrono::milliseconds>(
      options_.step_budget, std::chrono::milliseconds(options_.lease_ttl_ms / 3));
  if (!keep_lease(started)) return;
  if (!cursor_) load_cursor();  // after taking the lease, or again after a store error
  if (SteadyClock::now() < next_attempt_) return;
  bool sent = false;
  while (!stopping.load()) {
    if (queue_.empty()) {
      state::JournalFilter f;
      f.project = who_.project;
      f.after_seq = *cursor_;
      f.limit = options_.batch;
      f.newest_first = false;
      for (auto& r : store_.journal_query(who_, f)) queue_.push_back(std::move(r));
      if (queue_.empty()) return;
    }
    const state::JournalRecord& r = queue_.front();
    const std::string_view event = event_for(r);
    if (!target_wants(target_, event)) {
      cursor_ = r.seq;
      queue_.pop_front();
      continue;
    }
    // Bounded: the rest waits for the next step (next_due() is now).
    if (sent && SteadyClock::now() - started >= budget) return;
    // The hold must stay live through the attempt (a slow receiver takes timeout_ms).
    if (!keep_lease(SteadyClock::now())) return;
    const std::int64_t now_ms = wall_ms();
    if (attempts_ == 0) first_attempt_ms_ = now_ms;
    const net::HttpClientResponse resp =
        send_(delivery_request(target_, config_, r, event, now_ms / 1000));
    sent = true;
    ++attempts_;
    const bool delivered = resp.ok();
    if (!delivered && wall_ms() < first_attempt_ms_ + config_.retry_for_ms) {
      const auto wait = backoff_delay(attempts_, backoff_random());
      next_attempt_ = SteadyClock::now() + wait;
      spdlog::warn("notify: target '{}', event {} (#{}), attempt {}: {}; next in {} ms",
                   target_.name, event, r.seq, attempts_,
                   resp.error.empty() ? "HTTP " + std::to_string(resp.status) : resp.error,
                   wait.count());
      return;
    }
    if (!delivered) {
      spdlog::warn("notify: target '{}', event {} (#{}) given up after {} attempts", target_.name,
                   event, r.seq, attempts_);
    }
    journal(r, event, delivered, resp);
    cursor_ = r.seq;
    queue_.pop_front();
    attempts_ = 0;
  }
}

void TargetDeliverer::release() {
  if (!lease_) return;
  try {
    store_.release_lease(who_, lease_name_, lease_->lease_id);
  } catch (const std::exception& e) {
    spdlog::warn("notify: could not release the lease of target '{}': {}", target_.name,
                 e.what());
  }
  lease_.reset();
  cursor_.reset();
  queue_.clear();
  attempts_ = 0;
}

}  // namespace keel::notify

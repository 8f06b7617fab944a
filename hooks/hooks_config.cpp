// hooks_config.cpp — see hooks_config.h.
#include "hooks/hooks_config.h"

#include <boost/json.hpp>

#include <functional>
#include <set>

namespace keel::hooks {

namespace json = boost::json;

namespace {

// One JSON object whose keys are read by name; anything unread is an error.
class Reader {
 public:
  Reader(const json::value& v, std::string path) : path_(std::move(path)) {
    if (!v.is_object()) fail("must be an object");
    obj_ = &v.as_object();
  }

  [[noreturn]] void fail(const std::string& what, std::string_view key = {}) const {
    throw HooksConfigError(path_ + (key.empty() ? "" : "." + std::string(key)) + ": " + what);
  }

  void boolean(std::string_view key, bool& out) {
    if (const json::value* v = take(key)) {
      if (!v->is_bool()) fail("must be true or false", key);
      out = v->as_bool();
    }
  }

  template <class Int>
  void integer(std::string_view key, Int& out, std::int64_t min, std::int64_t max) {
    if (const json::value* v = take(key)) {
      if (!v->is_int64() && !v->is_uint64()) fail("must be an integer", key);
      std::int64_t n = v->is_int64() ? v->as_int64() : static_cast<std::int64_t>(v->as_uint64());
      if (v->is_uint64() && v->as_uint64() > static_cast<std::uint64_t>(INT64_MAX)) n = max + 1;
      if (n < min || n > max) {
        fail("must be between " + std::to_string(min) + " and " + std::to_string(max), key);
      }
      out = static_cast<Int>(n);
    }
  }

  void number(std::string_view key, double& out, double min, double max) {
    if (const json::value* v = take(key)) {
      if (!v->is_number()) fail("must be a number", key);
      double d = v->to_number<double>();
      if (!(d >= min && d <= max)) {
        fail("must be between " + json::serialize(json::value(min)) + " and " +
                 json::serialize(json::value(max)),
             key);
      }
      out = d;
    }
  }

  void string(std::string_view key, std::string& out, std::size_t max_bytes) {
    if (const json::value* v = take(key)) {
      if (!v->is_string()) fail("must be a string", key);
      if (v->as_string().size() > max_bytes) {
        fail("must be at most " + std::to_string(max_bytes) + " bytes", key);
      }
      out = std::string(v->as_string());
    }
  }

  void section(std::string_view key, const std::function<void(Reader&)>& fill) {
    if (const json::value* v = take(key)) {
      Reader r(*v, path_ + "." + std::string(key));
      fill(r);
      r.finish();
    }
  }

  const json::object& object() const { return *obj_; }
  const std::string& path() const { return path_; }

  // Marks every key as read (the caller iterates the object itself).
  void take_all() {
    for (const auto& kv : *obj_) seen_.insert(std::string(kv.key()));
  }

  void finish() const {
    for (const auto& kv : *obj_) {
      if (!seen_.count(std::string(kv.key()))) fail("unknown key", kv.key());
    }
  }

 private:
  const json::value* take(std::string_view key) {
    seen_.insert(std::string(key));
    auto it = obj_->find(key);
    return it == obj_->end() ? nullptr : &it->value();
  }

  const json::object* obj_ = nullptr;
  std::string path_;
  std::set<std::string> seen_;
};

void read_prices(Reader& r, TokenPrices& p) {
  constexpr double kMax = 1e6;
  r.number("input", p.input, 0, kMax);
  r.number("output", p.output, 0, kMax);
  r.number("cache_write", p.cache_write, 0, kMax);
  r.number("cache_read", p.cache_read, 0, kMax);
}

}  // namespace

HooksConfig parse_hooks_config(const json::value& section) {
  HooksConfig c;
  if (section.is_null()) return c;
  Reader top(section, "hooks");
  top.boolean("journal_all", c.journal_all);
  top.section("permission_gate", [&](Reader& r) { r.boolean("fail_closed", c.permission_fail_closed); });
  top.section("lease_gate", [&](Reader& r) {
    r.boolean("fail_closed", c.lease_fail_closed);
    r.boolean("auto_lease", c.lease_auto);
    r.boolean("stale_read", c.lease_stale_read);
    r.integer("auto_lease_ttl_ms", c.lease_auto_ttl_ms, 1000, 24LL * 3600 * 1000);
  });
  top.section("budget", [&](Reader& r) {
    BudgetConfig& b = c.budget;
    r.boolean("fail_closed", b.fail_closed);
    r.integer("session_tokens", b.session_tokens, 0, INT64_MAX / 2);
    r.number("session_cost_usd", b.session_cost_usd, 0, 1e9);
    r.integer("turn_tokens", b.turn_tokens, 0, INT64_MAX / 2);
    r.number("turn_cost_usd", b.turn_cost_usd, 0, 1e9);
    r.number("warn_ratio", b.warn_ratio, 0, 1);
    r.section("prices", [&](Reader& p) { read_prices(p, b.prices); });
    r.section("model_prices", [&](Reader& models) {
      models.take_all();
      for (const auto& kv : models.object()) {
        TokenPrices prices = b.prices;
        Reader p(kv.value(), models.path() + "." + std::string(kv.key()));
        read_prices(p, prices);
        p.finish();
        b.model_prices[std::string(kv.key())] = prices;
      }
    });
  });
  top.section("guardrail", [&](Reader& r) {
    GuardrailConfig& g = c.guardrail;
    r.boolean("enabled", g.enabled);
    r.boolean("fail_closed", g.fail_closed);
    r.integer("max_failures", g.max_failures, 0, 1000);
    r.integer("no_progress_calls", g.no_progress_calls, 0, 100000);
    r.integer("no_progress_block", g.no_progress_block, 0, 100000);
  });
  top.section("oracle", [&](Reader& r) {
    OracleConfig& o = c.oracle;
    r.boolean("fail_closed", o.fail_closed);
    r.string("command", o.command, 64 * 1024);
    r.integer("timeout_ms", o.timeout_ms, 1, 24LL * 3600 * 1000);
    r.integer("max_blocks", o.max_blocks, 1, 100);
    r.integer("tail_lines", o.tail_lines, 1, 100000);
    r.integer("tail_bytes", o.tail_bytes, 64, 9000);
    r.boolean("subagents", o.subagents);
  });
  top.section("self_check", [&](Reader& r) {
    SelfCheckConfig& s = c.self_check;
    r.boolean("enabled", s.enabled);
    r.boolean("fail_closed", s.fail_closed);
    r.string("checklist", s.checklist, 9000);
    r.integer("max_blocks", s.max_blocks, 1, 100);
    r.boolean("subagents", s.subagents);
  });
  top.finish();
  if (c.self_check.enabled && c.self_check.checklist.empty()) {
    top.fail("must not be empty when self_check.enabled", "self_check.checklist");
  }
  return c;
}

}  // namespace keel::hooks

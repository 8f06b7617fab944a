#include "cli/config.h"

#include "hooks/gate_config.h"
#include "hooks/hooks_config.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>

#include <boost/json.hpp>

#include "net/http_client.h"
#include "state/lease_name.h"

namespace keel::cli {

namespace json = boost::json;

namespace {
// A section of the hook policies (permission, hooks): parsed into its typed form here, once,
// for every caller of the hook pipeline; the section's own error names the key.
template <class Error, class Parse, class Typed>
auto policy_section(const std::string& origin, Parse parse, Typed& typed, json::value& raw) {
  return [&origin, parse, &typed, &raw](const json::value& v) {
    try {
      typed = parse(v);
    } catch (const Error& e) {
      throw ConfigError(origin + ": " + e.what());
    }
    raw = v;
  };
}
}  // namespace

std::set<std::string> Config::capabilities_for(const std::string& agent) const {
  auto it = agent_capabilities.find(agent);
  return it == agent_capabilities.end() ? default_capabilities : it->second;
}

namespace {

// The largest capacity lease.capacities accepts: the store's bound.
using state::kMaxLeaseCapacity;

// Walks one JSON object, handing each known key to its reader and rejecting
// the rest. `path` is the dotted path used in messages.
// "7d", "12h", "30m", "90s", "500ms" (a whole number and one unit) in ms;
// nullopt when malformed or too large.
std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
  std::size_t i = 0;
  std::int64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (n > (std::int64_t{1} << 40)) return std::nullopt;
    n = n * 10 + (text[i] - '0');
    ++i;
  }
  if (i == 0) return std::nullopt;
  const std::string_view unit = text.substr(i);
  const std::int64_t scale = unit == "ms" ? 1
                             : unit == "s" ? 1000
                             : unit == "m" ? 60'000
                             : unit == "h" ? 3'600'000
                             : unit == "d" ? 86'400'000
                                           : 0;
  if (scale == 0) return std::nullopt;
  return n * scale;
}

class Section {
 public:
  Section(const json::value& v, std::string path, const std::string& origin)
      : path_(std::move(path)), origin_(origin) {
    if (!v.is_object()) fail(path_.empty() ? "the file must hold a JSON object" : "must be an object");
    obj_ = &v.as_object();
  }

  [[noreturn]] void fail(const std::string& what, const std::string& key = {}) const {
    std::string where = path_;
    if (!key.empty()) where += (where.empty() ? "" : ".") + key;
    throw ConfigError(origin_ + ": " + (where.empty() ? "" : where + ": ") + what);
  }

  void on(const std::string& key, std::function<void(const json::value&)> reader) {
    readers_[key] = std::move(reader);
  }

  void integer(const std::string& key, std::int64_t& out, std::int64_t min, std::int64_t max) {
    on(key, [this, key, &out, min, max](const json::value& v) {
      if (!v.is_int64() && !v.is_uint64()) fail("must be an integer", key);
      std::int64_t n = v.is_int64() ? v.as_int64() : static_cast<std::int64_t>(v.as_uint64());
      if (n < min || n > max) {
        fail("must be between " + std::to_string(min) + " and " + std::to_string(max), key);
      }
      out = n;
    });
  }

  void integer(const std::string& key, int& out, int min, int max) {
    on(key, [this, key, &out, min, max](const json::value& v) {
      if (!v.is_int64() && !v.is_uint64()) fail("must be an integer", key);
      std::int64_t n = v.is_int64() ? v.as_int64() : static_cast<std::int64_t>(v.as_uint64());
      if (n < min || n > max) {
        fail("must be between " + std::to_string(min) + " and " + std::to_string(max), key);
      }
      out = static_cast<int>(n);
    });
  }

  // A duration: "7d", "12h", "30m", "90s", "500ms", or a number of ms;
  // min_ms..max_ms (the message says the range in `range`, e.g. "1s to 3650d").
  void duration(const std::string& key, std::int64_t& out, std::int64_t min_ms,
                std::int64_t max_ms, const std::string& range) {
    on(key, [this, key, &out, min_ms, max_ms, range](const json::value& v) {
      if (v.is_int64() || v.is_uint64()) {
        const std::int64_t n =
            v.is_int64() ? v.as_int64() : static_cast<std::int64_t>(v.as_uint64());
        if (n < min_ms || n > max_ms) {
          fail("must be between " + std::to_string(min_ms) + " and " + std::to_string(max_ms) +
                   " ms",
               key);
        }
        out = n;
        return;
      }
      if (!v.is_string()) {
        fail("must be a duration such as \"7d\", \"12h\", \"30m\" or a number of ms", key);
      }
      const std::optional<std::int64_t> ms = parse_duration_ms(v.as_string());
      if (!ms || *ms < min_ms || *ms > max_ms) {
        fail("must be a duration of " + range + " such as \"7d\", \"12h\", \"30m\", \"90s\"",
             key);
      }
      out = *ms;
    });
  }

  void string(const std::string& key, std::function<void(const std::string&)> set) {
    on(key, [this, key, set](const json::value& v) {
      if (!v.is_string()) fail("must be a string", key);
      set(std::string(v.as_string()));
    });
  }

  void section(const std::string& key, std::function<void(Section&)> fill) {
    on(key, [this, key, fill](const json::value& v) {
      Section s(v, path_.empty() ? key : path_ + "." + key, origin_);
      fill(s);
      s.run();
    });
  }

  std::set<std::string> capability_list(const json::value& v, const std::string& key) const {
    if (!v.is_array()) fail("must be an array of capability names", key);
    std::set<std::string> out;
    const auto& known = state::all_capabilities();
    for (const auto& item : v.as_array()) {
      if (!item.is_string()) fail("must be an array of capability names", key);
      std::string cap(item.as_string());
      if (std::find(known.begin(), known.end(), cap) == known.end()) {
        fail("unknown capability '" + cap + "'", key);
      }
      out.insert(cap);
    }
    return out;
  }

  const json::object& object() const { return *obj_; }

  void run() {
    for (const auto& [key, value] : *obj_) {
      auto it = readers_.find(std::string(key));
      if (it == readers_.end()) fail("unknown key", std::string(key));
      it->second(value);
    }
  }

 private:
  const json::object* obj_ = nullptr;
  std::string path_;
  const std::string& origin_;
  std::map<std::string, std::function<void(const json::value&)>> readers_;
};

}  // namespace

Config parse_config(std::string_view text, const std::string& origin) {
  json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  opts.max_depth = 32;
  json::value root;
  try {
    root = json::parse(text, {}, opts);
  } catch (const std::exception& e) {
    throw ConfigError(origin + ": not valid JSON (with comments): " + e.what());
  }

  Config c;
  Section top(root, "", origin);
  top.string("state_dir", [&](const std::string& s) {
    if (s.empty()) top.fail("must not be empty", "state_dir");
    c.state_dir = s;
  });
  top.section("store", [&](Section& s) {
    s.string("synchronous", [&](const std::string& v) {
      if (v == "full") c.store.synchronous = state::Synchronous::kFull;
      else if (v == "normal") c.store.synchronous = state::Synchronous::kNormal;
      else s.fail("must be \"full\" or \"normal\"", "synchronous");
    });
    s.integer("busy_timeout_ms", c.store.busy_timeout_ms, 0, 3'600'000);
    s.integer("max_batch", c.store.max_batch, 1, 100'000);
    // "" keeps the embedded SQLite store; the URL may omit the password
    // (libpq then reads PGPASSWORD or ~/.pgpass).
    s.string("url", [&](const std::string& v) { c.store.url = v; });
    s.integer("pg_call_timeout_ms", c.store.pg_call_timeout_ms, 100, 3'600'000);
    s.integer("pg_pool_size", c.store.pg_pool_size, 1, 1024);
  });
  top.section("node", [&](Section& s) {
    s.string("id", [&](const std::string& v) {
      if (v.empty()) s.fail("must not be empty", "id");
      c.store.node = v;
    });
  });
  top.section("project", [&](Section& s) {
    s.string("id", [&](const std::string& v) {
      if (v.empty()) s.fail("must not be empty", "id");
      c.project_id = v;
    });
  });
  top.section("lease", [&](Section& s) {
    s.integer("default_ttl_ms", c.lease_default_ttl_ms, 1, 365LL * 86'400'000);
    s.integer("max_ttl_ms", c.store.lease_max_ttl_ms, 1, 365LL * 86'400'000);
    s.integer("max_wait_ms", c.store.lease_max_wait_ms, 0, 86'400'000);
    // Counted names: {"slot:build": 4}. Free names only (a file or directory
    // is held, not counted); stored normalized, as acquires name them.
    s.on("capacities", [&](const json::value& v) {
      Section caps(v, "lease.capacities", origin);
      for (const auto& [key, value] : caps.object()) {
        const std::string name(key);
        if (!value.is_int64() && !value.is_uint64()) caps.fail("must be a positive integer", name);
        // Boost.JSON reads an integer as uint64 only past INT64_MAX: too large.
        const std::int64_t n = value.is_int64() ? value.as_int64() : kMaxLeaseCapacity + 1;
        if (n < 1 || n > kMaxLeaseCapacity) {
          caps.fail("must be a positive integer (at most " + std::to_string(kMaxLeaseCapacity) + ")",
                    name);
        }
        std::string normalized;
        try {
          normalized = state::normalize_lease_name(name);
        } catch (const state::StoreError& e) {
          caps.fail(std::string("not a lease name: ") + e.what(), name);
        }
        if (state::lease_name_kind(normalized) != state::LeaseNameKind::kFree) {
          caps.fail("a counted name must be a free name (not file: or dir:), e.g. slot:build", name);
        }
        c.store.lease_capacities[normalized] = n;
      }
    });
  });
  top.section("memory", [&](Section& s) {
    s.integer("max_value_bytes", c.store.memory_max_value_bytes, 1, 64LL << 20);
    s.integer("max_key_bytes", c.store.memory_max_key_bytes, 1, 65'536);
    s.integer("page_size", c.store.memory_page_size, 1, 100'000);
    s.integer("max_page_size", c.store.memory_max_page_size, 1, 100'000);
    s.integer("orphan_session_ttl_ms", c.store.memory_orphan_session_ttl_ms, 1,
              365LL * 86'400'000);
    s.integer("max_wait_ms", c.store.memory_max_wait_ms, 0, 86'400'000);
    s.integer("poll_ms", c.store.memory_poll_ms, 1, 60'000);
  });
  std::int64_t max_message = static_cast<std::int64_t>(c.server.max_message_bytes);
  std::int64_t tools_page = static_cast<std::int64_t>(c.server.tools_page_size);
  top.section("mcp", [&](Section& s) {
    s.integer("max_message_bytes", max_message, 1024, 1LL << 30);
    s.integer("tools_page_size", tools_page, 1, 10'000);
    s.integer("stdio_workers", c.stdio_workers, 1, 256);
    s.string("instructions", [&](const std::string& v) { c.server.instructions = v; });
  });
  top.section("principals", [&](Section& s) {
    s.on("default_capabilities", [&](const json::value& v) {
      c.default_capabilities = s.capability_list(v, "default_capabilities");
    });
    s.section("agents", [&](Section& agents) {
      for (const auto& [name, entry] : agents.object()) {
        std::string agent(name);
        agents.section(agent, [&c, agent](Section& a) {
          a.on("capabilities", [&c, agent, &a](const json::value& v) {
            c.agent_capabilities[agent] = a.capability_list(v, "capabilities");
          });
        });
      }
    });
  });
  std::set<std::string> http_default_caps;  // principals without "capabilities"
  top.section("http", [&](Section& s) {
    s.on("principals", [&](const json::value& v) {
      Section principals(v, "http.principals", origin);
      for (const auto& [name, entry] : principals.object()) {
        const std::string token_name(name);
        Config::HttpPrincipal principal;
        principal.agent = token_name;
        bool has_token = false;
        bool has_caps = false;
        Section p(entry, "http.principals." + token_name, origin);
        p.string("token", [&](const std::string& t) {
          if (t.size() < 16) p.fail("must be at least 16 characters", "token");
          principal.token = t;
          has_token = true;
        });
        p.string("agent", [&](const std::string& a) {
          if (a.empty()) p.fail("must not be empty", "agent");
          principal.agent = a;
        });
        p.on("capabilities", [&](const json::value& caps) {
          principal.capabilities = p.capability_list(caps, "capabilities");
          has_caps = true;
        });
        p.run();
        if (!has_token) p.fail("is required", "token");
        if (!has_caps) http_default_caps.insert(token_name);
        c.http_principals[token_name] = principal;
      }
    });
    s.integer("header_timeout_ms", c.http_header_timeout_ms, 100, 3'600'000);
    s.integer("idle_timeout_ms", c.http_idle_timeout_ms, 100, 86'400'000);
    s.integer("threads", c.http_threads, 1, 256);
    s.section("console", [&](Section& cs) {
      cs.on("enabled", [&](const json::value& v) {
        if (!v.is_bool()) cs.fail("must be true or false", "enabled");
        c.console.enabled = v.as_bool();
      });
      cs.string("public_url", [&](const std::string& v) {
        c.console.public_url = v;
        try {
          console::validate(c.console);
        } catch (const std::invalid_argument& e) {
          cs.fail(std::string(e.what()).substr(std::string("public_url: ").size()), "public_url");
        }
      });
    });
    s.on("metrics", [&](const json::value& v) {
      if (!v.is_bool()) s.fail("must be true or false", "metrics");
      c.http_metrics = v.as_bool();
    });
  });
  top.section("notify", [&](Section& s) {
    s.integer("retry_for_ms", c.notify.retry_for_ms, 0, 7LL * 86'400'000);
    s.integer("timeout_ms", c.notify.timeout_ms, 100, 600'000);
    s.string("console_url", [&](const std::string& v) {
      if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
        s.fail("must start with http:// or https://", "console_url");
      }
      c.notify.console_url = v;
    });
    s.on("targets", [&](const json::value& tv) {
      Section targets(tv, "notify.targets", origin);
      for (const auto& [key, entry] : targets.object()) {
        const std::string name(key);
        if (name.empty() || name.size() > 64 ||
            name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789._-") != std::string::npos) {
          targets.fail("a target name uses letters, digits, '.', '_' and '-' (at most 64)", name);
        }
        notify::NotifyTarget t;
        t.name = name;
        bool has_url = false;
        bool has_events = false;
        Section ts(entry, "notify.targets." + name, origin);
        ts.string("url", [&](const std::string& v) {
          try {
            net::parse_url(v);
          } catch (const std::invalid_argument& e) {
            ts.fail(e.what(), "url");
          }
          t.url = v;
          has_url = true;
        });
        ts.on("events", [&](const json::value& v) {
          if (!v.is_array() || v.as_array().empty()) {
            ts.fail("must be a non-empty array of event names (or [\"*\"])", "events");
          }
          for (const auto& item : v.as_array()) {
            if (!item.is_string()) ts.fail("must be an array of event names", "events");
            const std::string ev(item.as_string());
            if (ev != "*" && !notify::is_event_name(ev)) {
              std::string known;
              for (const auto& k : notify::event_kinds()) known += " " + std::string(k.name);
              ts.fail("unknown event '" + ev + "' (known:" + known + ", or *)", "events");
            }
            t.events.insert(ev);
          }
          has_events = true;
        });
        ts.string("format", [&](const std::string& v) {
          if (v == "json") t.format = notify::Format::kJson;
          else if (v == "slack") t.format = notify::Format::kSlack;
          else ts.fail("must be \"json\" or \"slack\"", "format");
        });
        ts.string("secret", [&](const std::string& v) {
          if (v.size() < 16) ts.fail("must be at least 16 characters", "secret");
          t.secret = v;
        });
        ts.run();
        if (!has_url) ts.fail("is required", "url");
        if (!has_events) ts.fail("is required", "events");
        if (t.format == notify::Format::kJson && t.secret.empty()) {
          ts.fail("is required for format \"json\" (it signs X-Keel-Signature)", "secret");
        }
        c.notify.targets.push_back(std::move(t));
      }
    });
  });
  top.section("telemetry", [&](Section& s) {
    observe::TelemetryConfig& t = c.telemetry;
    s.string("otlp_endpoint", [&](const std::string& v) {
      if (!v.empty()) {
        try {
          net::parse_url(v);
        } catch (const std::invalid_argument& e) {
          s.fail(e.what(), "otlp_endpoint");
        }
      }
      t.otlp_endpoint = v;
    });
    s.on("otlp_headers", [&](const json::value& v) {
      Section hs(v, "telemetry.otlp_headers", origin);
      for (const auto& [k, hv] : hs.object()) {
        if (!hv.is_string()) hs.fail("must be a string", std::string(k));
        t.otlp_headers[std::string(k)] = std::string(hv.as_string());
      }
    });
    s.string("service_name", [&](const std::string& v) {
      if (v.empty()) s.fail("must not be empty", "service_name");
      t.service_name = v;
    });
    s.integer("max_queue", t.max_queue, 1, 1'000'000);
    s.integer("max_batch", t.max_batch, 1, 100'000);
    s.integer("flush_ms", t.flush_ms, 10, 3'600'000);
    s.integer("timeout_ms", t.timeout_ms, 100, 600'000);
  });
  top.on("permission", policy_section<hooks::GateConfigError>(origin, hooks::parse_gate_config,
                                                            c.gate, c.permission));
  top.on("hooks", policy_section<hooks::HooksConfigError>(origin, hooks::parse_hooks_config,
                                                         c.hook_policies, c.hooks));
  // An agent's entry may set one field; the other comes from the section,
  // whose keys may follow "agents": merged after the walk (0 = unset).
  std::map<std::string, state::EscalationBudget> escalation_agents;
  top.section("escalation", [&](Section& s) {
    s.integer("capacity", c.store.escalation_budget.capacity, 1, 1'000'000);
    s.integer("refill_ms", c.store.escalation_budget.refill_ms, 1, 365LL * 86'400'000);
    s.integer("max_wait_ms", c.store.escalation_max_wait_ms, 0, 86'400'000);
    s.section("agents", [&](Section& agents) {
      for (const auto& [name, entry] : agents.object()) {
        const std::string agent(name);
        agents.section(agent, [&escalation_agents, agent](Section& a) {
          state::EscalationBudget& b = escalation_agents[agent];
          b = state::EscalationBudget{0, 0};
          a.integer("capacity", b.capacity, 1, 1'000'000);
          a.integer("refill_ms", b.refill_ms, 1, 365LL * 86'400'000);
        });
      }
    });
  });
  top.section("fanout", [&](Section& s) {
    tools::FanoutLimits& f = c.fanout;
    s.integer("max_branches", f.max_branches, 1, 100'000'000);
    s.integer("max_concurrency", f.max_concurrency, 1, 1024);
    s.integer("default_concurrency", f.default_concurrency, 1, 1024);
    s.integer("default_branch_timeout_ms", f.default_branch_timeout_ms, 1, 7LL * 86'400'000);
    s.integer("max_branch_timeout_ms", f.max_branch_timeout_ms, 1, 7LL * 86'400'000);
    s.integer("max_wall_ms", f.max_wall_ms, 1, 7LL * 86'400'000);
    s.integer("max_results", f.max_results, 0, 1'000'000);
    s.integer("max_output_bytes", f.max_output_bytes, 1, 1LL << 30);
    s.integer("kill_grace_ms", f.kill_grace_ms, 0, 60'000);
    s.integer("max_attempts", f.max_attempts, 1, 1000);
    s.integer("recent_runs", f.recent_runs, 1, 100'000);
    s.integer("cache_max_entries", c.store.fanout_cache_max_entries, 1, 100'000'000);
  });
  top.section("requests", [&](Section& s) {
    // Idempotent tool calls (tools/tool_idempotency.h).
    s.duration("retention", c.store.request_retention_ms, 1000, 3650LL * 86'400'000,
               "1s to 3650d");
    s.duration("claim_stale", c.store.request_claim_stale_ms, 1000, 30LL * 86'400'000,
               "1s to 30d");
  });
  bool retention_export_set = false;
  top.section("journal", [&](Section& s) {
    s.section("retention", [&](Section& r) {
      state::RetentionOptions& o = c.journal_retention;
      r.duration("max_age", o.max_age_ms, 1000, 3650LL * 86'400'000, "1s to 3650d");
      r.integer("max_records", o.max_records, 1, std::int64_t{1} << 53);
      r.on("export_dir", [&](const json::value& v) {
        if (!v.is_string()) r.fail("must be a string (\"\": fold without exporting)", "export_dir");
        o.export_dir = std::string(v.as_string());
        retention_export_set = true;
      });
      r.on("compress", [&](const json::value& v) {
        if (!v.is_bool()) r.fail("must be true or false", "compress");
        o.compress = v.as_bool();
      });
      r.integer("interval_ms", o.interval_ms, 1000, 86'400'000);
      r.integer("batch_records", o.batch_records, 100, 1'000'000);
    });
  });
  top.section("log", [&](Section& s) {
    s.string("level", [&](const std::string& v) {
      static const std::set<std::string> levels{"trace", "debug", "info", "warn",
                                                "error", "critical", "off"};
      if (!levels.count(v)) s.fail("must be one of trace debug info warn error critical off", "level");
      c.log_level = v;
    });
  });
  top.run();
  for (auto [agent, budget] : escalation_agents) {
    if (budget.capacity == 0) budget.capacity = c.store.escalation_budget.capacity;
    if (budget.refill_ms == 0) budget.refill_ms = c.store.escalation_budget.refill_ms;
    c.store.escalation_agent_budgets[agent] = budget;
  }
  for (const auto& name : http_default_caps) {
    c.http_principals[name].capabilities = c.default_capabilities;
  }
  c.server.max_message_bytes = static_cast<std::size_t>(max_message);
  c.server.tools_page_size = static_cast<std::size_t>(tools_page);
  if (c.store.memory_page_size > c.store.memory_max_page_size) {
    throw ConfigError(origin + ": memory.page_size must not exceed memory.max_page_size");
  }
  if (c.fanout.default_concurrency > c.fanout.max_concurrency) {
    throw ConfigError(origin + ": fanout.default_concurrency must not exceed fanout.max_concurrency");
  }
  if (c.fanout.default_branch_timeout_ms > c.fanout.max_branch_timeout_ms) {
    throw ConfigError(origin +
                      ": fanout.default_branch_timeout_ms must not exceed fanout.max_branch_timeout_ms");
  }
  if (c.journal_retention.enabled() && !retention_export_set) {
    throw ConfigError(origin +
                      ": journal.retention.export_dir: required with max_age or max_records "
                      "(where the folded records are written; \"\" folds them without keeping "
                      "a copy)");
  }
  if (retention_export_set && !c.journal_retention.enabled()) {
    throw ConfigError(origin + ": journal.retention: export_dir without max_age or max_records "
                               "folds nothing");
  }
  if (c.store.request_claim_stale_ms > c.store.request_retention_ms) {
    // A claim dropped by the retention before it went stale would let a
    // retry run while the first call still runs.
    throw ConfigError(origin + ": requests.claim_stale must not exceed requests.retention");
  }
  if (c.lease_default_ttl_ms > c.store.lease_max_ttl_ms) {
    throw ConfigError(origin + ": lease.default_ttl_ms must not exceed lease.max_ttl_ms");
  }
  return c;
}

Config load_config_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file.string() + ": cannot read the config file");
  std::ostringstream text;
  text << in.rdbuf();
  Config c = parse_config(text.str(), file.string());
  c.source = file;
  return c;
}

}  // namespace keel::cli

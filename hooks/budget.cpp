// budget.cpp — see budget.h.
#include "hooks/budget.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "hooks/glob.h"

namespace keel::hooks {

namespace json = boost::json;

namespace {

constexpr std::size_t kChunk = 1 << 20;
constexpr std::size_t kRememberedIds = 16;

std::int64_t usage_field(const json::object& u, std::string_view key) {
  auto it = u.find(key);
  if (it == u.end()) return 0;
  if (it->value().is_int64()) return std::max<std::int64_t>(0, it->value().as_int64());
  if (it->value().is_uint64()) return static_cast<std::int64_t>(it->value().as_uint64() >> 1);
  return 0;
}

std::string money(double usd) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "$%.2f", usd);
  return buf;
}

// 1234567 → "1,234,567".
std::string count(std::int64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  const std::size_t lead = digits.size() % 3;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && i % 3 == lead % 3 && digits[i - 1] != '-') out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// Accumulates the usage of one transcript line into the state.
class Tally {
 public:
  Tally(const Budget& budget, json::object& b) : budget_(budget), b_(b) {
    if (auto it = b_.find("ids"); it != b_.end() && it->value().is_array()) ids_ = it->value().as_array();
  }

  void line(std::string_view text) {
    if (text.find("\"usage\"") == std::string_view::npos) return;  // cheap reject
    json::value v;
    std::error_code ec;
    v = json::parse(text, ec);
    if (ec || !v.is_object()) return;  // not ours to judge: skip a torn or foreign line
    const json::object& o = v.as_object();
    auto m = o.find("message");
    if (m == o.end() || !m->value().is_object()) return;
    const json::object& msg = m->value().as_object();
    auto u = msg.find("usage");
    if (u == msg.end() || !u->value().is_object()) return;
    std::string id = get_string(msg, "id");
    if (!id.empty()) {
      for (const auto& seen : ids_) {
        if (seen.is_string() && seen.as_string() == id) return;
      }
      ids_.emplace_back(id);
      if (ids_.size() > kRememberedIds) ids_.erase(ids_.begin());
    }
    const json::object& usage = u->value().as_object();
    Usage use{usage_field(usage, "input_tokens"), usage_field(usage, "output_tokens"),
              usage_field(usage, "cache_creation_input_tokens"),
              usage_field(usage, "cache_read_input_tokens")};
    const double cost = cost_of(use, budget_.prices_for(get_string(msg, "model")));
    for (const char* scope : {"session", "turn"}) {
      json::value& s = b_[scope];
      if (!s.is_object()) s = json::object();
      json::object& so = s.as_object();
      so["tokens"] = get_int(so, "tokens") + use.tokens();
      so["cost"] = get_double(so, "cost") + cost;
    }
  }

  void finish() { b_["ids"] = std::move(ids_); }

 private:
  const Budget& budget_;
  json::object& b_;
  json::array ids_;
};

// Reads the transcript from the remembered offset; returns true when the state changed.
bool read_transcript(const Budget& budget, const std::string& path, json::object& b) {
  std::int64_t offset = get_int(b, "offset");
  if (get_string(b, "path") != path) {
    b["path"] = path;
    offset = 0;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;  // not written yet
    throw std::runtime_error("cannot open the transcript " + path + ": " + std::strerror(errno));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw std::runtime_error("cannot stat the transcript " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) throw std::runtime_error("the transcript " + path + " is not a regular file");
  if (st.st_size < offset) {
    // Rewritten: count it again from the start.
    offset = 0;
    b.erase("session");
    b.erase("turn");
    b.erase("ids");
  }
  if (st.st_size == offset) return false;

  Tally tally(budget, b);
  std::string pending;  // an incomplete line carried between chunks
  std::vector<char> buf(kChunk);
  std::int64_t pos = offset;
  std::int64_t consumed = offset;  // just past the last complete line
  for (;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), pos);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error("cannot read the transcript " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (;;) {
      std::size_t nl = chunk.find('\n', start);
      if (nl == std::string_view::npos) break;
      if (pending.empty()) {
        tally.line(chunk.substr(start, nl - start));
      } else {
        pending.append(chunk.substr(start, nl - start));
        tally.line(pending);
        pending.clear();
      }
      consumed = pos + static_cast<std::int64_t>(nl) + 1;
      start = nl + 1;
    }
    pending.append(chunk.substr(start));
    pos += n;
  }
  tally.finish();
  b["offset"] = consumed;
  return true;
}

}  // namespace

double cost_of(const Usage& u, const TokenPrices& p) {
  return (static_cast<double>(u.input) * p.input + static_cast<double>(u.output) * p.output +
          static_cast<double>(u.cache_write) * p.cache_write +
          static_cast<double>(u.cache_read) * p.cache_read) /
         1e6;
}

const TokenPrices& Budget::prices_for(std::string_view model) const {
  if (!model.empty()) {
    for (const auto& [pattern, prices] : cfg_.model_prices) {
      if (glob_match(pattern, model, false)) return prices;
    }
  }
  return cfg_.prices;
}

bool Budget::concerns(const HookEvent& ev) const {
  return cfg_.enabled() && !ev.session_id.empty() && !ev.transcript_path.empty() &&
         ev.kind != EventKind::SessionEnd;
}

HookDecision Budget::evaluate(const PolicyInput& in, json::object& state, bool& changed) const {
  HookDecision d;
  if (!concerns(in.ev)) return d;
  json::value& bv = state["budget"];
  if (!bv.is_object()) {
    bv = json::object();
    changed = true;
  }
  json::object& b = bv.as_object();
  if (read_transcript(*this, in.ev.transcript_path, b)) changed = true;
  if (in.new_turn) {
    b["turn"] = json::object{{"tokens", 0}, {"cost", 0.0}};
    if (auto it = b.find("warned"); it != b.end() && it->value().is_object()) {
      it->value().as_object().erase("turn_tokens");
      it->value().as_object().erase("turn_cost");
    }
    changed = true;
  }

  const json::object empty;
  auto scope = [&](const char* name) -> const json::object& {
    auto it = b.find(name);
    return it != b.end() && it->value().is_object() ? it->value().as_object() : empty;
  };
  struct Ceiling {
    const char* id;
    const char* what;
    double used;
    double limit;
    bool is_cost;
  };
  const Ceiling ceilings[] = {
      {"session_cost", "session cost", get_double(scope("session"), "cost"), cfg_.session_cost_usd, true},
      {"session_tokens", "session tokens", static_cast<double>(get_int(scope("session"), "tokens")),
       static_cast<double>(cfg_.session_tokens), false},
      {"turn_cost", "turn cost", get_double(scope("turn"), "cost"), cfg_.turn_cost_usd, true},
      {"turn_tokens", "turn tokens", static_cast<double>(get_int(scope("turn"), "tokens")),
       static_cast<double>(cfg_.turn_tokens), false},
  };
  auto show = [](const Ceiling& c, double v) {
    return c.is_cost ? money(v) : count(static_cast<std::int64_t>(v));
  };
  for (const Ceiling& c : ceilings) {
    if (c.limit <= 0 || c.used < c.limit) continue;
    d.continue_ = false;
    d.rule_id = std::string("budget:") + c.id;
    d.stop_reason = std::string("keel budget: ") + c.what + " " + show(c, c.used) +
                    " reached the ceiling " + show(c, c.limit) +
                    " (hooks.budget in keel.jsonc)";
    d.reason = d.stop_reason;
    if (in.ev.kind == EventKind::PreToolUse || in.ev.kind == EventKind::PermissionRequest ||
        in.ev.kind == EventKind::UserPromptSubmit) {
      d.outcome = Outcome::Deny;
    }
    return d;
  }
  json::value& wv = b["warned"];
  if (!wv.is_object()) wv = json::object();
  json::object& warned = wv.as_object();
  for (const Ceiling& c : ceilings) {
    if (c.limit <= 0 || cfg_.warn_ratio <= 0 || c.used < c.limit * cfg_.warn_ratio) continue;
    if (get_bool(warned, c.id)) continue;
    warned[c.id] = true;
    changed = true;
    if (!d.system_message.empty()) d.system_message += "\n";
    d.system_message += std::string("keel budget: ") + c.what + " at " +
                        std::to_string(static_cast<int>(c.used * 100 / c.limit)) + "% of the ceiling (" +
                        show(c, c.used) + " of " + show(c, c.limit) + ")";
    d.rule_id = std::string("budget:warn:") + c.id;
  }
  return d;
}

}  // namespace keel::hooks

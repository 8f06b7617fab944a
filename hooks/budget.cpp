// budget.cpp — see budget.h.
#include "hooks/budget.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

#include "hooks/glob.h"

namespace keel::hooks {

namespace json = boost::json;

namespace {

constexpr std::size_t kChunk = 1 << 20;
// message.ids remembered per file (see budget.h).
constexpr std::size_t kMainIds = 16;
constexpr std::size_t kOtherIds = 1;
constexpr std::string_view kJsonl = ".jsonl";

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

// o[key] += v, leaving the member out while it is zero (the state must stay small).
void add(json::object& o, std::string_view key, std::int64_t v) {
  if (v != 0) o[key] = get_int(o, key) + v;
}
// Costs are kept in whole nano-dollars: a rounded double prints in a few digits where a drifting
// sum prints seventeen, and 256 records must stay small. The error is under $1e-9 per line.
void add(json::object& o, std::string_view key, double v) {
  if (v != 0) o[key] = std::round((get_double(o, key) + v) * 1e9) / 1e9;
}

// Accumulates the usage of one transcript's lines into its record.
class Tally {
 public:
  Tally(const Budget& budget, json::object& rec, std::size_t remembered)
      : budget_(budget), rec_(rec), remembered_(remembered) {
    if (auto it = rec_.find("i"); it != rec_.end() && it->value().is_array()) ids_ = it->value().as_array();
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
    if (std::string id = get_string(msg, "id"); !id.empty()) {
      // Remembered as fingerprints: 16 characters, where an id has about 30.
      const std::string fp = fingerprint(id);
      for (const auto& seen : ids_) {
        if (seen.is_string() && seen.as_string() == fp) return;
      }
      ids_.emplace_back(fp);
      if (ids_.size() > remembered_) ids_.erase(ids_.begin());
    }
    const json::object& usage = u->value().as_object();
    Usage use{usage_field(usage, "input_tokens"), usage_field(usage, "output_tokens"),
              usage_field(usage, "cache_creation_input_tokens"),
              usage_field(usage, "cache_read_input_tokens")};
    const double cost = cost_of(use, budget_.prices_for(get_string(msg, "model")));
    add(rec_, "t", use.tokens());
    add(rec_, "tt", use.tokens());
    add(rec_, "c", cost);
    add(rec_, "tc", cost);
  }

  void finish() {
    // A record first read under a larger window (it was the main transcript) keeps only as many.
    while (ids_.size() > remembered_) ids_.erase(ids_.begin());
    if (ids_.empty()) {
      rec_.erase("i");
    } else {
      rec_["i"] = std::move(ids_);
    }
  }

 private:
  const Budget& budget_;
  json::object& rec_;
  std::size_t remembered_;
  json::array ids_;
};

[[noreturn]] void fail(const char* what, const std::string& path) {
  const int err = errno;  // before building the message can change it
  throw std::runtime_error(std::string("cannot ") + what + " the transcript " + path + ": " +
                           std::strerror(err));
}

// Reads `path` from its record's offset into the record; returns true when the record changed.
// A file that does not exist (yet, or any more) is left alone.
bool read_transcript(const Budget& budget, const std::string& path, json::object& rec,
                     std::size_t remembered) {
  std::int64_t offset = get_int(rec, "o");
  struct stat st {};
  // stat before open: most calls find most files unchanged, and then one syscall is enough.
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    fail("stat", path);
  }
  if (!S_ISREG(st.st_mode)) throw std::runtime_error("the transcript " + path + " is not a regular file");
  if (st.st_size == offset) return false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;  // removed since the stat
    fail("open", path);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0) fail("stat", path);
  bool changed = false;
  if (st.st_size < offset) {
    // Rewritten: count it again from the start, and only it.
    rec.clear();
    offset = 0;
    changed = true;
  }
  if (st.st_size == offset) return changed;

  Tally tally(budget, rec, remembered);
  std::string pending;  // an incomplete line carried between chunks
  std::vector<char> buf(kChunk);
  std::int64_t pos = offset;
  std::int64_t consumed = offset;  // just past the last complete line
  for (;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), pos);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("read", path);
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
  if (consumed != 0) rec["o"] = consumed;
  return true;
}

std::string normal(std::string_view path) {
  return std::filesystem::path(path).lexically_normal().string();
}

// The regular *.jsonl files in `dir`, sorted so that which files fit under kMaxTranscripts does
// not depend on the directory's order. A missing directory is no subagents.
std::vector<std::string> subagent_transcripts(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return out;
    throw std::runtime_error("cannot list the subagent transcripts in " + dir + ": " + std::strerror(err));
  }
  struct Closer {
    DIR* d;
    ~Closer() { ::closedir(d); }
  } closer{d};
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name.size() <= kJsonl.size() || !name.ends_with(kJsonl)) continue;
    bool regular = e->d_type == DT_REG;
    if (e->d_type == DT_UNKNOWN) {  // file systems that do not fill d_type
      struct stat st {};
      regular = ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    }
    if (regular) out.push_back(dir + "/" + e->d_name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Source {
  std::string path;  // lexically normal
  std::size_t remembered_ids;
};

// Every transcript this event's session has, each once. (A path listed twice would still count
// once, its record's offset having moved, but it would be stat'ed twice, and a main transcript
// re-read as a subagent's would shrink its id memory.)
std::vector<Source> sources(const HookEvent& ev) {
  std::vector<Source> out;
  out.push_back({normal(ev.transcript_path), kMainIds});
  if (!ev.agent_transcript_path.empty()) {
    std::string p = normal(ev.agent_transcript_path);
    if (p != out[0].path) out.push_back({std::move(p), kOtherIds});
  }
  std::string_view stem = out[0].path;
  if (stem.ends_with(kJsonl)) stem.remove_suffix(kJsonl.size());
  const std::size_t named = out.size();
  for (std::string& p : subagent_transcripts(std::string(stem) + "/subagents")) {
    bool seen = false;
    for (std::size_t i = 0; i < named; ++i) seen = seen || out[i].path == p;
    if (!seen) out.push_back({std::move(p), kOtherIds});
  }
  return out;
}

bool has_bytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

json::object& files_of(json::object& b) {
  json::value& fv = b["files"];
  if (!fv.is_object()) fv = json::object();
  return fv.as_object();
}

// The single-transcript format kept path/offset/ids and the running session/turn totals in the
// budget object itself. They become that path's record, totals included, so the bytes they
// counted are not counted again. Returns true when there was anything to migrate.
bool migrate_single_transcript_state(json::object& b) {
  if (!b.contains("path") && !b.contains("offset") && !b.contains("session") && !b.contains("turn")) {
    return false;
  }
  const json::object empty;
  auto scope = [&](const char* name) -> const json::object& {
    auto it = b.find(name);
    return it != b.end() && it->value().is_object() ? it->value().as_object() : empty;
  };
  json::object rec;
  add(rec, "o", get_int(b, "offset"));
  if (auto it = b.find("ids"); it != b.end() && it->value().is_array()) {
    json::array ids;
    for (const auto& id : it->value().as_array()) {
      if (id.is_string()) ids.emplace_back(fingerprint(id.as_string()));
    }
    if (!ids.empty()) rec["i"] = std::move(ids);
  }
  add(rec, "t", get_int(scope("session"), "tokens"));
  add(rec, "c", get_double(scope("session"), "cost"));
  add(rec, "tt", get_int(scope("turn"), "tokens"));
  add(rec, "tc", get_double(scope("turn"), "cost"));
  const std::string key = transcript_key(get_string(b, "path"));
  for (const char* old : {"path", "offset", "ids", "session", "turn"}) b.erase(old);
  if (!rec.empty()) files_of(b)[key] = std::move(rec);
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

std::string transcript_key(std::string_view path) { return fingerprint(normal(path)); }

BudgetTotals budget_totals(const json::object& b) {
  BudgetTotals t;
  auto f = b.find("files");
  if (f == b.end() || !f->value().is_object()) return t;
  for (const auto& entry : f->value().as_object()) {
    if (!entry.value().is_object()) continue;
    const json::object& rec = entry.value().as_object();
    t.session.tokens += get_int(rec, "t");
    t.session.cost += get_double(rec, "c");
    t.turn.tokens += get_int(rec, "tt");
    t.turn.cost += get_double(rec, "tc");
  }
  return t;
}

HookDecision Budget::decide(const PolicyCall& call) const {
  SessionRound& s = session_of(call);
  return evaluate(policy_input(call), s.state, s.changed);
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
  if (migrate_single_transcript_state(b)) changed = true;
  json::object& files = files_of(b);
  bool over_cap = false;
  for (const Source& src : sources(in.ev)) {
    const std::string key = fingerprint(src.path);  // transcript_key: src.path is normal already
    if (auto it = files.find(key); it != files.end()) {
      if (!it->value().is_object()) it->value() = json::object();
      if (read_transcript(*this, src.path, it->value().as_object(), src.remembered_ids)) changed = true;
    } else if (files.size() < kMaxTranscripts) {
      // A record only once the file has a counted line: a missing or empty one takes no room.
      json::object rec;
      if (read_transcript(*this, src.path, rec, src.remembered_ids) && !rec.empty()) {
        files[key] = std::move(rec);
        changed = true;
      }
    } else if (has_bytes(src.path)) {
      over_cap = true;
    }
  }
  if (in.new_turn) {
    for (auto& entry : files) {
      if (!entry.value().is_object()) continue;
      entry.value().as_object().erase("tt");
      entry.value().as_object().erase("tc");
    }
    if (auto it = b.find("warned"); it != b.end() && it->value().is_object()) {
      it->value().as_object().erase("turn_tokens");
      it->value().as_object().erase("turn_cost");
    }
    changed = true;
  }

  const BudgetTotals spent = budget_totals(b);
  struct Ceiling {
    const char* id;
    const char* what;
    double used;
    double limit;
    bool is_cost;
  };
  const Ceiling ceilings[] = {
      {"session_cost", "session cost", spent.session.cost, cfg_.session_cost_usd, true},
      {"session_tokens", "session tokens", static_cast<double>(spent.session.tokens),
       static_cast<double>(cfg_.session_tokens), false},
      {"turn_cost", "turn cost", spent.turn.cost, cfg_.turn_cost_usd, true},
      {"turn_tokens", "turn tokens", static_cast<double>(spent.turn.tokens),
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
  if (over_cap && !get_bool(warned, "files")) {
    warned["files"] = true;
    changed = true;
    if (!d.system_message.empty()) d.system_message += "\n";
    d.system_message += "keel budget: this session has more than " + std::to_string(kMaxTranscripts) +
                        " transcripts; the spend in the ones beyond them is not counted";
    if (d.rule_id.empty()) d.rule_id = "budget:warn:files";
  }
  return d;
}

}  // namespace keel::hooks

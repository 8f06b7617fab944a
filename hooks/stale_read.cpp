// stale_read.cpp — see stale_read.h.
#include "hooks/stale_read.h"

#include <boost/json.hpp>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "crypto/sha256.h"

namespace keel::hooks {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr std::uintmax_t kMaxHashed = 16u << 20;

std::string iso_time(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string absolute(const std::string& p, const std::string& cwd) {
  fs::path path(p);
  if (path.is_relative() && !cwd.empty()) path = fs::path(cwd) / path;
  return path.lexically_normal().string();
}

// The hook's principal, allowed to read the journal (the guard reads other agents' records, as
// the lease gate reads their holds).
state::Principal reader(const state::Principal& who) {
  state::Principal p = who;
  p.capabilities.insert(std::string(state::caps::kJournalRead));
  return p;
}

std::string payload_field(const state::JournalRecord& r, const char* key) {
  try {
    json::value v = json::parse(r.payload);
    if (v.is_object())
      if (auto it = v.as_object().find(key); it != v.as_object().end() && it->value().is_string())
        return std::string(it->value().as_string());
  } catch (const std::exception&) {
  }
  return {};
}

}  // namespace

std::optional<std::string> file_hash(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec || size > kMaxHashed) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return crypto::sha256_hex(s.str());
}

int record_seen(state::Store& store, const state::Principal& who, const HookEvent& ev) {
  if (ev.kind != EventKind::PostToolUse || ev.tool_failed) return 0;
  const char* kind = ev.tool == ToolKind::Read ? "read"
                     : (ev.tool == ToolKind::Write || ev.tool == ToolKind::Edit) ? "write"
                                                                                 : nullptr;
  if (!kind) return 0;
  int n = 0;
  for (const std::string& p : ev.file_paths) {
    const std::string path = absolute(p, ev.cwd);
    std::optional<std::string> h = file_hash(path);
    if (!h) continue;
    store.journal_append(who, kFileSeen, path,
                         json::object{{"sha256", *h}, {"seen", kind}, {"session_id", ev.session_id},
                                      {"agent_id", ev.agent_id}});
    ++n;
  }
  return n;
}

HookDecision check_stale(state::Store& store, const state::Principal& who, const AnalysedEvent& analysed) {
  HookDecision d;
  const HookEvent& ev = analysed.event();
  if (ev.kind != EventKind::PreToolUse) return d;
  const state::Principal me = reader(who);
  for (const std::string& path : analysed.written_paths()) {
    std::optional<std::string> now = file_hash(path);
    if (!now) continue;  // a new file, or one it cannot hash: nothing to be stale about
    state::JournalFilter mine;
    mine.project = who.project;
    mine.op = std::string(kFileSeen);
    mine.subject = path;
    mine.principal = who.agent;
    mine.limit = 1;
    const std::vector<state::JournalRecord> last = store.journal_query(me, mine);
    if (last.empty()) continue;  // never seen by this agent: nothing to compare with
    if (payload_field(last.front(), "sha256") == *now) continue;  // unchanged since
    state::JournalFilter since;
    since.project = who.project;
    since.op = std::string(kFileSeen);
    since.subject = path;
    since.after_seq = last.front().seq;
    since.limit = 100;
    for (const state::JournalRecord& r : store.journal_query(me, since)) {
      if (r.principal == who.agent || payload_field(r, "seen") != "write") continue;
      d.outcome = Outcome::Deny;
      d.rule_id = "lease:stale-read";
      d.reason = path + " was changed by " + r.principal + " at " + iso_time(r.ts_ms) +
                 ", after you last read it (" + iso_time(last.front().ts_ms) +
                 "). Read it again and apply your change to its current content instead of "
                 "overwriting theirs. (hooks.lease_gate.stale_read)";
      return d;
    }
  }
  return d;
}

}  // namespace keel::hooks

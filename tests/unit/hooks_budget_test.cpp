// The budget: spend from the transcript's message.usage, read incrementally; warnings and the
// hard stop per session and per turn.
#include <catch2/catch.hpp>

#include <fstream>

#include "hooks/dialect.h"

#include "hooks/budget.h"
#include "state_test_util.h"

using namespace keel::hooks;
namespace json = boost::json;

namespace {

std::string usage_line(const std::string& id, std::int64_t in, std::int64_t out, std::int64_t cw = 0,
                       std::int64_t cr = 0, const std::string& model = "claude-sonnet-5") {
  json::object usage{{"input_tokens", in},
                     {"output_tokens", out},
                     {"cache_creation_input_tokens", cw},
                     {"cache_read_input_tokens", cr}};
  json::object msg{{"id", id}, {"model", model}, {"role", "assistant"}, {"usage", usage}};
  return json::serialize(json::object{{"type", "assistant"}, {"message", msg}}) + "\n";
}

void append(const std::filesystem::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::app | std::ios::binary);
  f << text;
}

HookEvent event(EventKind kind, const std::filesystem::path& transcript) {
  HookEvent ev;
  ev.kind = kind;
  ev.session_id = "s1";
  ev.transcript_path = transcript.string();
  if (kind == EventKind::PreToolUse) {
    ev.tool = ToolKind::Shell;
    ev.tool_name = "Bash";
    ev.command = "ls";
  }
  return ev;
}

Spend spent(const json::object& state, std::string_view scope) {
  const BudgetTotals t = budget_totals(state.at("budget").as_object());
  return scope == "turn" ? t.turn : t.session;
}
std::int64_t tokens(const json::object& state, const char* scope) { return spent(state, scope).tokens; }
double cost(const json::object& state, const char* scope) { return spent(state, scope).cost; }

// The record the state keeps for one transcript.
const json::object& record(const json::object& state, const std::filesystem::path& p) {
  return state.at("budget").at("files").at(transcript_key(p.string())).as_object();
}

}  // namespace

TEST_CASE("budget: cost by per-million prices, per-model globs") {
  TokenPrices p{3, 15, 3.75, 0.3};
  CHECK(cost_of(Usage{1'000'000, 0, 0, 0}, p) == Approx(3.0));
  CHECK(cost_of(Usage{100'000, 10'000, 20'000, 1'000'000}, p) == Approx(0.3 + 0.15 + 0.075 + 0.3));
  BudgetConfig cfg;
  cfg.model_prices["claude-opus-*"] = TokenPrices{15, 75, 18.75, 1.5};
  Budget b(cfg);
  CHECK(b.prices_for("claude-opus-5").output == 75);
  CHECK(b.prices_for("claude-sonnet-5").output == 15);
  CHECK(b.prices_for("").output == 15);
}

TEST_CASE("budget: reads only the bytes appended since the last call, a torn line waits") {
  keel::state::testing::TempDir dir;
  const auto transcript = dir.path() / "t.jsonl";
  BudgetConfig cfg;
  cfg.session_tokens = 1'000'000;
  Budget budget(cfg);
  json::object state;
  bool changed = false;

  // No transcript yet: nothing spent, nothing to say.
  HookDecision d = budget.evaluate({event(EventKind::PreToolUse, transcript)}, state, changed);
  CHECK(d.outcome == Outcome::Continue);
  CHECK(d.continue_);

  append(transcript, "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"hi\"}}\n");
  append(transcript, usage_line("m1", 100, 50, 10, 1000));
  changed = false;
  budget.evaluate({event(EventKind::PostToolUse, transcript)}, state, changed);
  CHECK(changed);
  CHECK(tokens(state, "session") == 1160);
  CHECK(cost(state, "session") == Approx((100 * 3 + 50 * 15 + 10 * 3.75 + 1000 * 0.3) / 1e6));
  const auto size_after_first = std::filesystem::file_size(transcript);
  CHECK(get_int(record(state, transcript), "o") == static_cast<std::int64_t>(size_after_first));

  // The same message repeated on the next line (streamed chunks) counts once; a line still being
  // written (no newline yet) is left for later.
  std::string next = usage_line("m2", 1000, 0);
  append(transcript, usage_line("m1", 100, 50, 10, 1000) + next.substr(0, 20));
  budget.evaluate({event(EventKind::PostToolUse, transcript)}, state, changed);
  CHECK(tokens(state, "session") == 1160);
  append(transcript, next.substr(20));
  budget.evaluate({event(EventKind::PostToolUse, transcript)}, state, changed);
  CHECK(tokens(state, "session") == 2160);

  // Proof that old bytes are not read again: scribble over the first lines (same length); the
  // total does not move, and only the newly appended line is added.
  {
    std::fstream f(transcript, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f << std::string(static_cast<std::size_t>(size_after_first) - 1, 'x');
  }
  append(transcript, usage_line("m3", 5, 5));
  budget.evaluate({event(EventKind::PostToolUse, transcript)}, state, changed);
  CHECK(tokens(state, "session") == 2170);

  // A transcript that shrank (rewritten) is counted again from its start.
  std::filesystem::resize_file(transcript, 0);
  append(transcript, usage_line("m9", 7, 0));
  budget.evaluate({event(EventKind::PostToolUse, transcript)}, state, changed);
  CHECK(tokens(state, "session") == 7);
}

namespace {

// One Claude session: the transcript layout (<dir>/s1.jsonl, <dir>/s1/subagents/agent-<id>.jsonl),
// a budget and the state its hook calls share.
struct Session {
  keel::state::testing::TempDir dir;
  std::filesystem::path main = dir.path() / "s1.jsonl";
  std::filesystem::path subagents = dir.path() / "s1" / "subagents";
  Budget budget;
  json::object state;
  bool changed = false;

  explicit Session(BudgetConfig cfg) : budget(std::move(cfg)) { std::filesystem::create_directories(subagents); }
  std::filesystem::path agent(const std::string& id) const { return subagents / ("agent-" + id + ".jsonl"); }

  HookDecision on(const HookEvent& ev, bool new_turn = false) {
    return budget.evaluate({ev, new_turn}, state, changed);
  }
  HookDecision on(EventKind kind) { return on(event(kind, main)); }
  HookDecision new_turn() { return on(event(EventKind::UserPromptSubmit, main), true); }
  HookDecision subagent_stop(const std::string& agent_transcript) {
    HookEvent ev = event(EventKind::SubagentStop, main);
    ev.agent_id = "def456";
    ev.agent_transcript_path = agent_transcript;
    return on(ev);
  }
  std::int64_t spent_tokens(const char* scope) const { return tokens(state, scope); }
};

BudgetConfig session_tokens(std::int64_t n) {
  BudgetConfig cfg;
  cfg.session_tokens = n;
  return cfg;
}

}  // namespace

TEST_CASE("budget: warning once at warn_ratio, hard stop at the ceiling") {
  BudgetConfig cfg = session_tokens(1000);
  cfg.warn_ratio = 0.8;
  Session s(cfg);

  append(s.main, usage_line("a", 500, 0));
  HookDecision d = s.on(EventKind::PostToolUse);
  CHECK(d.system_message.empty());
  append(s.main, usage_line("b", 350, 0));
  d = s.on(EventKind::PostToolUse);
  CHECK_THAT(d.system_message, Catch::Contains("85%") && Catch::Contains("850 of 1,000"));
  CHECK(d.continue_);
  d = s.on(EventKind::PostToolUse);
  CHECK(d.system_message.empty());  // said once

  append(s.main, usage_line("c", 150, 0));
  d = s.on(EventKind::PreToolUse);
  CHECK_FALSE(d.continue_);
  CHECK(d.outcome == Outcome::Deny);
  CHECK(d.rule_id == "budget:session_tokens");
  CHECK_THAT(d.stop_reason, Catch::Contains("1,000") && Catch::Contains("session tokens"));
  // Stop events are not refused, only ended.
  d = s.on(EventKind::Stop);
  CHECK_FALSE(d.continue_);
  CHECK(d.outcome == Outcome::Continue);
}

TEST_CASE("budget: the turn ceiling restarts at each turn, the session one does not") {
  BudgetConfig cfg;
  cfg.turn_cost_usd = 1.0;
  cfg.session_cost_usd = 2.5;
  Session s(cfg);

  append(s.main, usage_line("a", 0, 70'000));  // $1.05
  HookDecision d = s.on(EventKind::PreToolUse);
  CHECK_FALSE(d.continue_);
  CHECK(d.rule_id == "budget:turn_cost");
  CHECK_THAT(d.stop_reason, Catch::Contains("$1.05") && Catch::Contains("$1.00"));

  // A new prompt starts a new turn: the turn total is back to zero.
  d = s.new_turn();
  CHECK(d.continue_);
  CHECK(cost(s.state, "turn") == 0);
  append(s.main, usage_line("b", 0, 60'000));  // $0.90 this turn, $1.95 in the session
  d = s.on(EventKind::PreToolUse);
  CHECK(d.continue_);
  CHECK_THAT(d.system_message, Catch::Contains("turn cost at 90%"));
  CHECK_THAT(d.system_message, !Catch::Contains("session cost"));  // 78%: below warn_ratio
  CHECK(cost(s.state, "session") == Approx(1.95));
  d = s.new_turn();
  append(s.main, usage_line("c", 0, 40'000));  // $0.60 → session $2.55
  d = s.on(EventKind::PreToolUse);
  CHECK_FALSE(d.continue_);
  CHECK(d.rule_id == "budget:session_cost");
}

TEST_CASE("budget: off without a ceiling, and an unreadable transcript is an error") {
  keel::state::testing::TempDir dir;
  Budget off{BudgetConfig{}};
  CHECK_FALSE(off.concerns(event(EventKind::PreToolUse, dir.path() / "t.jsonl")));
  BudgetConfig cfg;
  cfg.session_tokens = 10;
  Budget on(cfg);
  HookEvent no_transcript = event(EventKind::PreToolUse, "");
  CHECK_FALSE(on.concerns(no_transcript));
  json::object state;
  bool changed = false;
  // A directory where the transcript should be cannot be read as one.
  std::filesystem::create_directory(dir.path() / "d.jsonl");
  HookEvent bad = event(EventKind::PreToolUse, dir.path() / "d.jsonl");
  CHECK_THROWS(on.evaluate({bad}, state, changed));
}


TEST_CASE("budget: subagent transcripts, by directory and by agent_transcript_path, count once each") {
  Session s(session_tokens(1'000'000));
  append(s.main, usage_line("m1", 1000, 0));
  append(s.agent("a"), usage_line("a1", 100, 0));  // found in the directory only
  append(s.agent("b"), usage_line("b1", 20, 0));   // in the directory and named by SubagentStop
  const auto elsewhere = s.dir.path() / "other" / "agent-c.jsonl";  // named by SubagentStop only
  std::filesystem::create_directories(elsewhere.parent_path());
  append(elsewhere, usage_line("c1", 3, 0));
  // Not transcripts: another extension, and a directory with the right one.
  append(s.subagents / "agent-a.meta.json", usage_line("x", 50'000, 0));
  std::filesystem::create_directory(s.subagents / "dir.jsonl");

  s.on(EventKind::PostToolUse);
  CHECK(s.spent_tokens("session") == 1120);

  // agent-b spelt differently still names the file already counted through the directory.
  s.subagent_stop((s.subagents / ".." / "subagents" / "." / "agent-b.jsonl").string());
  CHECK(s.spent_tokens("session") == 1120);
  s.subagent_stop(elsewhere.string());
  CHECK(s.spent_tokens("session") == 1123);
  s.subagent_stop(elsewhere.string());
  s.on(EventKind::PostToolUse);
  CHECK(s.spent_tokens("session") == 1123);
  CHECK(s.state.at("budget").at("files").as_object().size() == 4);

  // The dialects fill agent_transcript_path from SubagentStop's own field (Codex shares the parser).
  for (const char* dialect : {"claude", "codex"}) {
    json::object in{{"hook_event_name", "SubagentStop"}, {"session_id", "s1"},
                    {"transcript_path", s.main.string()}, {"agent_id", "c"},
                    {"agent_transcript_path", elsewhere.string()}};
    HookEvent ev = make_dialect(dialect)->parse(json::serialize(in));
    CHECK(ev.agent_transcript_path == elsewhere.string());
    append(elsewhere, usage_line(std::string("c-") + dialect, 1, 0));
    s.on(ev);
  }
  CHECK(s.spent_tokens("session") == 1125);
}

TEST_CASE("budget: each transcript is read from its own offset, with its own repeated ids") {
  Session s(session_tokens(1'000'000));
  append(s.main, usage_line("m1", 1000, 0));
  append(s.agent("a"), usage_line("a1", 100, 0));
  s.on(EventKind::PostToolUse);
  CHECK(s.spent_tokens("session") == 1100);
  const auto a_size = static_cast<std::int64_t>(std::filesystem::file_size(s.agent("a")));
  CHECK(get_int(record(s.state, s.agent("a")), "o") == a_size);
  CHECK(get_int(record(s.state, s.main), "o") == static_cast<std::int64_t>(std::filesystem::file_size(s.main)));

  // The subagent's repeated message (streamed chunks) counts once across calls; its torn line
  // waits while the main transcript's complete line counts.
  const std::string torn = usage_line("a2", 30, 0);
  append(s.agent("a"), usage_line("a1", 100, 0) + torn.substr(0, 25));
  append(s.main, usage_line("m2", 2000, 0));
  s.changed = false;
  s.on(EventKind::PostToolUse);
  CHECK(s.changed);
  CHECK(s.spent_tokens("session") == 3100);
  append(s.agent("a"), torn.substr(25));
  s.on(EventKind::PostToolUse);
  CHECK(s.spent_tokens("session") == 3130);

  // Old bytes of the subagent's file are not read again: scribbled over, they change nothing.
  {
    std::fstream f(s.agent("a"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f << std::string(static_cast<std::size_t>(a_size) - 1, 'x');
  }
  append(s.agent("a"), usage_line("a3", 4, 0));
  s.on(EventKind::PostToolUse);
  CHECK(s.spent_tokens("session") == 3134);
  // Nothing appended anywhere: nothing to write back.
  s.changed = false;
  s.on(EventKind::PostToolUse);
  CHECK_FALSE(s.changed);
}

TEST_CASE("budget: a shrunk subagent transcript re-counts only itself, in the session and the turn") {
  Session s(session_tokens(1'000'000));
  append(s.main, usage_line("m1", 1000, 0));
  append(s.agent("a"), usage_line("a1", 200, 0));
  s.on(EventKind::PostToolUse);
  s.new_turn();
  append(s.main, usage_line("m2", 10, 0));
  append(s.agent("a"), usage_line("a2", 5, 0));
  s.on(EventKind::PostToolUse);
  CHECK(s.spent_tokens("session") == 1215);
  CHECK(s.spent_tokens("turn") == 15);

  std::filesystem::resize_file(s.agent("a"), 0);
  append(s.agent("a"), usage_line("a9", 3, 0));
  s.on(EventKind::PostToolUse);
  CHECK(s.spent_tokens("session") == 1013);  // the main transcript's 1010 kept, the rewrite's 3
  CHECK(s.spent_tokens("turn") == 13);
  CHECK(cost(s.state, "session") == Approx(1013 * 3 / 1e6));
}

TEST_CASE("budget: turn totals include subagent spend and restart with the turn") {
  BudgetConfig cfg;
  cfg.turn_tokens = 1000;
  Session s(cfg);
  append(s.main, usage_line("m1", 400, 0));
  HookDecision d = s.on(EventKind::PreToolUse);
  CHECK(d.continue_);
  append(s.agent("a"), usage_line("a1", 700, 0));
  d = s.on(EventKind::PreToolUse);
  CHECK_FALSE(d.continue_);
  CHECK(d.rule_id == "budget:turn_tokens");
  CHECK_THAT(d.stop_reason, Catch::Contains("1,100"));

  d = s.new_turn();
  CHECK(d.continue_);
  CHECK(s.spent_tokens("turn") == 0);
  CHECK(s.spent_tokens("session") == 1100);
  append(s.agent("b"), usage_line("b1", 600, 0));
  append(s.agent("a"), usage_line("a2", 250, 0));
  d = s.on(EventKind::PreToolUse);
  CHECK(d.continue_);
  CHECK(s.spent_tokens("turn") == 850);
  CHECK_THAT(d.system_message, Catch::Contains("turn tokens at 85%"));
}

TEST_CASE("budget: single-transcript state keeps counting without counting twice") {
  Session s(session_tokens(1'000'000));
  // What the single-transcript format left after counting 10,000 tokens ($0.03) from an earlier
  // transcript path (it kept its totals when the path changed), then m1 (1160) in an earlier turn
  // and m2 (500) in this one. None of it can be recovered by reading the file again.
  append(s.main, usage_line("m1", 100, 50, 10, 1000) + usage_line("m2", 500, 0));
  const auto size = static_cast<std::int64_t>(std::filesystem::file_size(s.main));
  s.state = json::object{
      {"budget",
       {{"path", s.main.string()},
        {"offset", size},
        {"ids", json::array{"m1", "m2"}},
        {"session", {{"tokens", 11'660}, {"cost", 0.0328875}}},
        {"turn", {{"tokens", 500}, {"cost", 0.0015}}},
        {"warned", {{"session_tokens", false}}}}},
      {"guardrail", json::object{}}};

  // m2 streamed on: a repeat of an id the old state remembered; then a new line, and a subagent.
  append(s.main, usage_line("m2", 500, 0) + usage_line("m3", 7, 0));
  append(s.agent("a"), usage_line("a1", 40, 0));
  s.on(EventKind::PostToolUse);
  CHECK(s.changed);
  CHECK(s.spent_tokens("session") == 11'707);
  CHECK(s.spent_tokens("turn") == 547);
  CHECK(cost(s.state, "session") == Approx(0.0328875 + 47 * 3 / 1e6));
  const json::object& b = s.state.at("budget").as_object();
  for (const char* old : {"path", "offset", "ids", "session", "turn"}) CHECK_FALSE(b.contains(old));
  CHECK(b.contains("warned"));
  CHECK(s.state.contains("guardrail"));

  s.on(EventKind::PostToolUse);
  CHECK(s.spent_tokens("session") == 11'707);

  // The migrated totals belong to the main transcript's record, as they did to the old format's
  // single count: rewritten, it is counted afresh; the subagent's 40 stay.
  std::filesystem::resize_file(s.main, 0);
  append(s.main, usage_line("m9", 9, 0));
  s.on(EventKind::PostToolUse);
  CHECK(s.spent_tokens("session") == 49);
}

TEST_CASE("budget: a ceiling reached through subagent spend ends the session") {
  BudgetConfig cfg;
  cfg.session_cost_usd = 1.0;
  Session s(cfg);
  append(s.main, usage_line("m1", 0, 30'000));  // $0.45
  HookDecision d = s.on(EventKind::PreToolUse);
  CHECK(d.continue_);
  // The subagent's file, outside the directory keel lists, named by its SubagentStop.
  const auto outside = s.dir.path() / "agent-x.jsonl";
  append(outside, usage_line("x1", 0, 40'000));  // $0.60
  d = s.subagent_stop(outside.string());
  CHECK_FALSE(d.continue_);
  CHECK(d.outcome == Outcome::Continue);  // a stop is ended, not refused
  CHECK(d.rule_id == "budget:session_cost");
  CHECK_THAT(d.stop_reason, Catch::Contains("$1.05") && Catch::Contains("$1.00"));
  const json::object out =
      json::parse(make_dialect("claude")->render(event(EventKind::SubagentStop, s.main), d).stdout_text)
          .as_object();
  CHECK(out.at("continue") == false);
  CHECK_THAT(std::string(out.at("stopReason").as_string()), Catch::Contains("session cost"));
  // Later events of the main agent see the subagent's spend too.
  d = s.on(EventKind::PreToolUse);
  CHECK_FALSE(d.continue_);
  CHECK(d.outcome == Outcome::Deny);
}

TEST_CASE("budget: at most kMaxTranscripts files are tracked, compactly; the rest is said once") {
  Session s(session_tokens(1'000'000'000));
  append(s.main, usage_line("msg_01MainAbCdEfGhIjKlMnOpQr", 1, 0));
  // Names sort as the numbers do, so the last one is the file beyond the cap.
  for (std::size_t i = 0; i < kMaxTranscripts; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "%04zu", i);
    append(s.agent(id), usage_line(std::string("msg_01AbCdEfGhIjKlMnOpQr") + id, 1'234'567, 89, 1234, 56'789));
  }
  HookDecision d = s.on(EventKind::PostToolUse);
  CHECK(s.state.at("budget").at("files").as_object().size() == kMaxTranscripts);
  const std::int64_t per_file = 1'234'567 + 89 + 1234 + 56'789;
  // The main transcript and the first kMaxTranscripts - 1 subagents.
  CHECK(s.spent_tokens("session") == 1 + static_cast<std::int64_t>(kMaxTranscripts - 1) * per_file);
  CHECK_THAT(d.system_message, Catch::Contains("more than 256 transcripts"));
  CHECK(d.rule_id == "budget:warn:files");
  // Full, turn parts included, the budget state stays under 30 KiB of the store's 64 KiB value.
  CHECK(json::serialize(s.state.at("budget")).size() < kMaxTranscripts * 120);

  d = s.on(EventKind::PostToolUse);
  CHECK(d.system_message.empty());  // said once
  // The tracked files go on counting.
  append(s.agent("0001"), usage_line("msg_more", 5, 0));
  s.on(EventKind::PostToolUse);
  CHECK(s.spent_tokens("session") == 6 + static_cast<std::int64_t>(kMaxTranscripts - 1) * per_file);
}

// The budget: spend from the transcript's message.usage, read incrementally; warnings and the
// hard stop per session and per turn.
#include <catch2/catch.hpp>

#include <fstream>

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

std::int64_t tokens(const json::object& state, const char* scope) {
  return get_int(state.at("budget").as_object().at(scope).as_object(), "tokens");
}
double cost(const json::object& state, const char* scope) {
  return get_double(state.at("budget").as_object().at(scope).as_object(), "cost");
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
  CHECK(get_int(state.at("budget").as_object(), "offset") == static_cast<std::int64_t>(size_after_first));

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

TEST_CASE("budget: warning once at warn_ratio, hard stop at the ceiling") {
  keel::state::testing::TempDir dir;
  const auto transcript = dir.path() / "t.jsonl";
  BudgetConfig cfg;
  cfg.session_tokens = 1000;
  cfg.warn_ratio = 0.8;
  Budget budget(cfg);
  json::object state;
  bool changed = false;

  append(transcript, usage_line("a", 500, 0));
  HookDecision d = budget.evaluate({event(EventKind::PostToolUse, transcript)}, state, changed);
  CHECK(d.system_message.empty());
  append(transcript, usage_line("b", 350, 0));
  d = budget.evaluate({event(EventKind::PostToolUse, transcript)}, state, changed);
  CHECK_THAT(d.system_message, Catch::Contains("85%") && Catch::Contains("850 of 1,000"));
  CHECK(d.continue_);
  d = budget.evaluate({event(EventKind::PostToolUse, transcript)}, state, changed);
  CHECK(d.system_message.empty());  // said once

  append(transcript, usage_line("c", 150, 0));
  d = budget.evaluate({event(EventKind::PreToolUse, transcript)}, state, changed);
  CHECK_FALSE(d.continue_);
  CHECK(d.outcome == Outcome::Deny);
  CHECK(d.rule_id == "budget:session_tokens");
  CHECK_THAT(d.stop_reason, Catch::Contains("1,000") && Catch::Contains("session tokens"));
  // Stop events are not refused, only ended.
  d = budget.evaluate({event(EventKind::Stop, transcript)}, state, changed);
  CHECK_FALSE(d.continue_);
  CHECK(d.outcome == Outcome::Continue);
}

TEST_CASE("budget: the turn ceiling restarts at each turn, the session one does not") {
  keel::state::testing::TempDir dir;
  const auto transcript = dir.path() / "t.jsonl";
  BudgetConfig cfg;
  cfg.turn_cost_usd = 1.0;
  cfg.session_cost_usd = 2.5;
  Budget budget(cfg);
  json::object state;
  bool changed = false;

  append(transcript, usage_line("a", 0, 70'000));  // $1.05
  HookDecision d = budget.evaluate({event(EventKind::PreToolUse, transcript)}, state, changed);
  CHECK_FALSE(d.continue_);
  CHECK(d.rule_id == "budget:turn_cost");
  CHECK_THAT(d.stop_reason, Catch::Contains("$1.05") && Catch::Contains("$1.00"));

  // A new prompt starts a new turn: the turn total is back to zero.
  d = budget.evaluate({event(EventKind::UserPromptSubmit, transcript), true}, state, changed);
  CHECK(d.continue_);
  CHECK(cost(state, "turn") == 0);
  append(transcript, usage_line("b", 0, 60'000));  // $0.90 this turn, $1.95 in the session
  d = budget.evaluate({event(EventKind::PreToolUse, transcript)}, state, changed);
  CHECK(d.continue_);
  CHECK_THAT(d.system_message, Catch::Contains("turn cost at 90%"));
  CHECK_THAT(d.system_message, !Catch::Contains("session cost"));  // 78%: below warn_ratio
  CHECK(cost(state, "session") == Approx(1.95));
  d = budget.evaluate({event(EventKind::UserPromptSubmit, transcript), true}, state, changed);
  append(transcript, usage_line("c", 0, 40'000));  // $0.60 → session $2.55
  d = budget.evaluate({event(EventKind::PreToolUse, transcript)}, state, changed);
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
